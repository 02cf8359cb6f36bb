import ArgumentParser
import Foundation
import Tensor

@main
struct Tir: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tir",
        abstract: "SwiftTIR: tool-integrated reinforcement learning of a small policy, in one Swift process.",
        subcommands: [Demo.self, Pretrain.self, Train.self, Eval.self, Score.self, Bench.self, Experiment.self, SandboxCommand.self])

    static func main() async {
        // Machines of this kind export OPENBLAS_CORETYPE=Haswell, which pins OpenBLAS to AVX2 kernels even on
        // AVX-512 CPUs (half the GEMM work per cycle). Let OpenBLAS pick the kernels for the CPU it runs on,
        // unless TIR_KEEP_OPENBLAS_CORETYPE is set. Child processes still see the original environment.
        if ProcessInfo.processInfo.environment["TIR_KEEP_OPENBLAS_CORETYPE"] == nil { BLAS.useWidestKernels() }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
