import ArgumentParser

/// `tir bench ...`: performance measurements, one JSON object per run with --json.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure performance (use a release build).",
        subcommands: [BenchTrain.self, BenchPeak.self, BenchDecode.self, BenchGRPO.self, BenchSandbox.self])
}
