import ArgumentParser
import Distributed
import Foundation
import Tensor

@main
struct Tir: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tir",
        abstract: "SwiftTIR: tool-integrated reinforcement learning of a small policy, in one Swift process.",
        subcommands: [Info.self, Demo.self, Pretrain.self, Train.self, Eval.self, Score.self, Generate.self, Export.self, Plot.self, Bench.self, Experiment.self, SandboxCommand.self])

    static func main() async {
        // OpenBLAS picks kernels from a model table and OPENBLAS_CORETYPE; both can be wrong on these machines.
        // Choose from the CPU's features instead (BLAS.chooseCore states the precedence of the overrides).
        // Child processes still see the original environment.
        BLAS.loadChosenCore()
        MachineInfo.configure()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // Under mpirun a rank that fails ends the whole job: the others would wait for it in a collective.
            if Cluster.shared.size > 1, exitCode(for: error) != .success {
                let cluster = Cluster.shared
                FileHandle.standardError.write(Data("tir: rank \(cluster.rank) of \(cluster.size): \(fullMessage(for: error))\n".utf8))
                cluster.abort(code: exitCode(for: error).rawValue)
            }
            exit(withError: error)
        }
    }
}
