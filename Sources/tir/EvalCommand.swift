import Foundation
import ArgumentParser
import GRPO
import Model
import Pretrain
import Rollout
import Sandbox
import SandboxExecutor
import Training

struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a policy on held-out tasks: the toy world's split, a JSONL file, or a GRPO run's own.",
        discussion: "Given a GRPO run directory, the policy is its current checkpoint and the episode limits, sampling "
            + "and held-out tasks are the run's (config.json) unless a flag or --set changes them.")

    @Option(help: "A tir run or checkpoint, a Hugging Face directory or a .gguf file.") var checkpoint: String
    @Option(help: "Held-out tasks to evaluate.") var tasks = 128
    @Option(help: "Samples per task (pass@1 is averaged over them).") var samples = 4
    @Option(help: "Max executed code blocks per trajectory (ToRL's C; sets rollout.maxToolCalls).") var maxToolCalls: Int?
    @Option(help: "Sampling temperature (sets rollout.sampling.temperature).") var temperature: Float?
    @Option(name: .customLong("set"), help: "Override a rollout field, e.g. --set rollout.maxTurnTokens=96 (repeatable).")
    var overrides: [String] = []
    @Option(help: "JSONL file of {question|problem, answer|solution} records instead of the toy world.") var data: String?
    @Option(help: "Seed of tasks and sampling.") var seed: UInt64 = 1
    @Option(help: "Write every trajectory, readable, to this file.") var dump: String?
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        try requireCount("tasks", tasks)
        try requireCount("samples", samples)
        try requireCount("max-tool-calls", maxToolCalls, min: 0)
    }

    func run() async throws {
        let path = url(checkpoint)
        let saved = try GRPORun.savedConfig(path)
        var sets = overrides
        if let maxToolCalls { sets.append("rollout.maxToolCalls=\(maxToolCalls)") }
        if let temperature { sets.append("rollout.sampling.temperature=\(temperature)") }
        let c = try GRPOConfig.load(json: Data(), overrides: sets, over: saved)
        let model = try loadModel(path)
        let list: [MathTask]
        if let data {
            list = Array(try loadJSONLTasks(url(data)).prefix(tasks))
            try RunTasks.checkPrompts(list, model: model, rollout: c.rollout)
        } else {
            list = try RunTasks.load(c, toySeed: seed, model: model).evaluation(tasks)
        }
        if let saved {
            let step = try TrainCheckpoint.loadState(try resolveCheckpoint(path)).step
            Status.info("evaluating the GRPO run in \(path.path) at step \(step)/\(saved.steps) under its own limits")
        }
        let pool = try makeSandbox(c.sandbox)
        defer { pool.shutdown() }
        let (report, trajectories) = try await evaluate(model: model, tasks: list, samples: samples, config: c.rollout,
                                                        executor: pool, seed: seed) { done, total in
            Status.line("eval \(done)/\(total) tasks", final: done == total)
        }
        if let dump {
            let text = trajectories.map { $0.dump(tokenizer: model.tokenizer) }.joined(separator: "\n" + String(repeating: "=", count: 60) + "\n")
            try Data(text.utf8).write(to: url(dump))
        }
        if json { try printJSON(report) } else { print(report.table) }
    }
}

/// The sandbox pool every command uses; refuses to run if isolation is unavailable.
func makeSandbox(_ c: SandboxConfig = SandboxConfig()) throws -> SandboxPool {
    var limits = SandboxLimits()
    limits.timeout = c.timeout
    return try SandboxPool(workers: c.workers > 0 ? c.workers : ProcessInfo.processInfo.activeProcessorCount, limits: limits)
}

/// Held-out accuracy of the toy world under the given episode limits (the demo evaluates with its training's).
func evaluateOnHeldOut(_ policy: Policy, tasks: Int, samples: Int, seed: UInt64, rollout: RolloutConfig,
                       difficulty: Int = TaskConfig().difficulty) async throws -> EvalReport {
    let pool = try makeSandbox()
    defer { pool.shutdown() }
    return try await evaluate(model: LanguageModel(toy: policy), tasks: ToyData(seed: seed, difficulty: difficulty).heldOutTasks(count: tasks),
                              samples: samples, config: rollout, executor: pool, seed: seed) { done, total in
        Status.line("eval \(done)/\(total) held-out tasks", final: done == total)
    }.report
}
