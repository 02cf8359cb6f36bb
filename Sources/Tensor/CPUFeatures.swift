import Foundation

/// The CPU this process runs on, as /proc/cpuinfo describes it: what kernel choice depends on.
///
/// Choices are made from feature flags, never from a table of models, so a CPU newer than our OpenBLAS
/// (which knows models, not features) still gets the widest kernels it supports.
public struct CPUFeatures: Equatable, Sendable {
    public var vendor: String
    public var modelName: String
    public var flags: Set<String>

    public init(vendor: String, modelName: String, flags: Set<String>) {
        self.vendor = vendor
        self.modelName = modelName
        self.flags = flags
    }

    /// Parses the first processor block of /proc/cpuinfo text (all cores of one machine report the same).
    public init(cpuinfo: String) {
        var vendor = "", model = "", flags = Set<String>()
        for line in cpuinfo.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty, !flags.isEmpty { break }   // end of the first processor block
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "vendor_id": vendor = value
            case "model name": model = value
            case "flags": flags = Set(value.split(separator: " ").map(String.init))
            default: break
            }
        }
        self.init(vendor: vendor, modelName: model, flags: flags)
    }

    /// The machine's CPU (empty flags where /proc/cpuinfo is unreadable, e.g. not Linux).
    public static let current = CPUFeatures(
        cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")

    public var hasAVX2: Bool { flags.contains("avx2") && flags.contains("fma") }
    /// AVX-512 F/BW/DQ/VL: the common subset of every AVX-512 CPU (Skylake-SP and later, Zen 4 and later).
    public var hasAVX512: Bool {
        hasAVX2 && ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
    }
    public var hasAVX512BF16: Bool { hasAVX512 && flags.contains("avx512_bf16") }

    /// The features that decide kernels, for start lines and benchmark reports.
    public var summary: String {
        let names = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16"]
        let present = names.filter(flags.contains)
        return present.isEmpty ? "no AVX2" : present.joined(separator: " ")
    }
}
