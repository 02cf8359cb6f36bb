import ArgumentParser

/// `tir bench ...`: performance measurements, one JSON object per run with --json.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure performance (use a release build).",
        subcommands: [BenchSandbox.self])
}
