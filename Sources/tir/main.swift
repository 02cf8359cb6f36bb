import ArgumentParser

@main
struct Tir: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tir",
        abstract: "SwiftTIR: tool-integrated reinforcement learning of a small policy, in one Swift process.",
        subcommands: [Bench.self, SandboxCommand.self])
}
