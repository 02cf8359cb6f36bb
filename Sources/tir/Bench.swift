import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks: train step, decode, sandbox, GRPO step.",
        subcommands: [BenchTrain.self, BenchDecode.self])
}
