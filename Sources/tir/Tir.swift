import ArgumentParser

@main
struct Tir: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tir",
        abstract: "SwiftTIR: tool-integrated reinforcement learning of a small policy, in one Swift process.",
        subcommands: [Demo.self, Pretrain.self, Train.self, Eval.self, Score.self, Bench.self, Experiment.self, SandboxCommand.self])

    static func main() async {
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
