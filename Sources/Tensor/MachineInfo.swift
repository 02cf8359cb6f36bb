import Foundation

/// What this process computes with: CPU, kernel choices and threads. Printed by `tir info`, on the start
/// line of long commands, and in every benchmark report, so each figure says which CPU it comes from.
public struct MachineInfo: Sendable {
    public var cpu: String
    public var features: String
    public var blasCore: String
    public var blasReason: String
    public var threads: Int
    /// Our own kernels in use: "AVX-512" (the few-row decode GEMM) or "AVX2".
    public var ourKernels: String

    /// Set once at start-up by `BLAS.configure` (through `MachineInfo.configure`).
    nonisolated(unsafe) private static var blasChoice: (core: String, reason: String)?

    /// Chooses the OpenBLAS core for this CPU (see `BLAS.chooseCore`) and returns the resulting state.
    @discardableResult
    public static func configure() -> MachineInfo {
        blasChoice = BLAS.configure()
        return current
    }

    public static var current: MachineInfo {
        let cpu = CPUFeatures.current
        return MachineInfo(cpu: cpu.modelName.isEmpty ? "unknown CPU" : cpu.modelName, features: cpu.summary,
                           blasCore: BLAS.coreName, blasReason: blasChoice?.reason ?? "OpenBLAS's choice at load",
                           threads: Threads.count, ourKernels: Kernels.useAVX512 ? "AVX-512" : "AVX2")
    }

    /// One line for logs: "cpu AMD EPYC (avx2 fma avx512f ...), BLAS Cooperlake, kernels AVX-512, 2 threads".
    public var line: String {
        "cpu \(cpu) (\(features)), BLAS \(blasCore), kernels \(ourKernels), \(threads) threads"
    }

    /// The fields every benchmark JSON object carries.
    public var jsonFields: [String: Any] {
        ["cpu": cpu, "cpu_features": features, "blas_core": blasCore, "threads": threads, "kernels": ourKernels]
    }
}
