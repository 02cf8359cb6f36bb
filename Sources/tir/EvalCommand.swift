import Foundation
import ArgumentParser
import Model
import Pretrain
import Rollout
import Sandbox
import SandboxExecutor

struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a policy on the held-out toy-world split (or a JSONL task file).")

    @Option(help: "Checkpoint directory.") var checkpoint: String
    @Option(help: "Held-out tasks to evaluate.") var tasks = 128
    @Option(help: "Samples per task (pass@1 is averaged over them).") var samples = 4
    @Option(help: "Max executed code blocks per trajectory (ToRL's C).") var maxToolCalls = 2
    @Option(help: "Sampling temperature.") var temperature: Float = 1
    @Option(help: "JSONL file of {question|problem, answer|solution} records instead of the toy world.") var data: String?
    @Option(help: "Seed of tasks and sampling.") var seed: UInt64 = 1
    @Option(help: "Write every trajectory, readable, to this file.") var dump: String?
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        let policy = try Checkpoint.load(url(checkpoint))
        var list: [MathTask]
        if let data { list = Array(try loadJSONLTasks(url(data)).prefix(tasks)) } else {
            list = ToyData(seed: seed).heldOutTasks(count: tasks)
        }
        var config = RolloutConfig()
        config.maxToolCalls = maxToolCalls
        config.sampling.temperature = temperature
        let pool = try makeSandbox()
        defer { pool.shutdown() }
        let (report, trajectories) = try await evaluate(policy: policy, tasks: list, samples: samples, config: config,
                                                        executor: pool, seed: seed) { done, total in
            Status.line("eval \(done)/\(total) tasks", final: done == total)
        }
        if let dump {
            let text = trajectories.map { $0.dump() }.joined(separator: "\n" + String(repeating: "=", count: 60) + "\n")
            try Data(text.utf8).write(to: url(dump))
        }
        if json { try printJSON(report) } else { print(report.table) }
    }
}

/// The sandbox pool every command uses; refuses to run if isolation is unavailable.
func makeSandbox(timeout: Double = 3, workers: Int = 0) throws -> SandboxPool {
    var limits = SandboxLimits()
    limits.timeout = timeout
    return try SandboxPool(workers: workers > 0 ? workers : ProcessInfo.processInfo.activeProcessorCount, limits: limits)
}

func evaluateOnHeldOut(_ policy: Policy, tasks: Int, samples: Int, seed: UInt64, maxToolCalls: Int = 2) async throws -> EvalReport {
    var config = RolloutConfig()
    config.maxToolCalls = maxToolCalls
    let pool = try makeSandbox()
    defer { pool.shutdown() }
    return try await evaluate(policy: policy, tasks: ToyData(seed: seed).heldOutTasks(count: tasks), samples: samples,
                              config: config, executor: pool, seed: seed) { done, total in
        Status.line("eval \(done)/\(total) held-out tasks", final: done == total)
    }.report
}
