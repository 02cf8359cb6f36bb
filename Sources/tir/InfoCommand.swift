import ArgumentParser
import Foundation
import Tensor

/// `tir info`: the CPU, the kernels chosen for it and why, and the thread count.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the CPU, its relevant features, the OpenBLAS core chosen (and why), our kernels and threads.",
        discussion: """
        OpenBLAS core precedence: \(BLAS.forceVariable)=NAME forces a core; \(BLAS.keepVariable)=1 keeps \
        OpenBLAS's own choice (which honours OPENBLAS_CORETYPE); otherwise the core follows the CPU's features \
        (AVX-512 with BF16: Cooperlake, AVX-512: SkylakeX, AVX2: Haswell). TIR_NO_AVX512=1 forces our AVX2 \
        kernels on an AVX-512 CPU.
        """)

    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let info = MachineInfo.current
        if json { try printJSONObject(info.jsonFields.merging(["blas_reason": info.blasReason]) { a, _ in a }) } else {
            print("cpu:      \(info.cpu)")
            print("features: \(info.features)")
            print("BLAS:     \(info.blasCore) (\(info.blasReason))")
            print("kernels:  \(info.ourKernels)")
            print("threads:  \(info.threads)")
        }
    }
}
