import Foundation
import ArgumentParser
import GRPO
import Model
import Pretrain
import Rollout
import SandboxExecutor

struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "GRPO training of a policy on the toy TIR task.",
        discussion: "Settings come from defaults, then --config FILE (JSON), then --set key=value overrides. "
            + "Run with --list-config to see every field with its default and meaning.")

    @Option(help: "Base policy checkpoint to start from.") var checkpoint = "runs/base"
    @Option(help: "Run directory: metrics.jsonl, checkpoint/, config.json.") var out = "runs/grpo"
    @Option(help: "JSON config file (unknown fields are an error).") var config: String?
    @Option(name: .customLong("set"), help: "Override one field, e.g. --set lr=1e-4 (repeatable).") var overrides: [String] = []
    @Flag(help: "Continue the run in --out from its last checkpoint.") var resume = false
    @Flag(help: "Print every config field with its default and exit.") var listConfig = false

    func run() async throws {
        if listConfig {
            let defaults = try JSONSerialization.jsonObject(with: JSONEncoder().encode(GRPOConfig())) as! [String: Any]
            for (k, doc) in GRPOConfig.documentation { print("\(k) = \(defaults[k] ?? "")\n    \(doc)") }
            return
        }
        Status.machine()
        let data = try config.map { try Data(contentsOf: url($0)) } ?? Data()
        let c = try GRPOConfig.load(json: data, overrides: overrides)
        let pool = try makeSandbox(timeout: c.sandboxTimeout, workers: c.sandboxWorkers)
        defer { pool.shutdown() }
        let run = GRPORun(config: c, dir: url(out))
        let metrics = try await run.run(base: url(checkpoint), tasks: ToyData(seed: c.seed, difficulty: c.difficulty).trainTasks,
                                        executor: pool, resume: resume, progress: printStepLine)
        Status.info("reward  " + sparkline(metrics.compactMap { $0["reward_mean"] }))
        Status.info("metrics: \(run.metricsURL.path)\ncheckpoint: \(run.checkpointDir.path)")
    }
}

func printStepLine(_ m: [String: Double]) {
    func f(_ k: String) -> Double { m[k] ?? .nan }
    Status.line(String(format: "grpo step %.0f  reward %+.3f  acc %.2f  grad %.3f  tool %.2f  void %.2f  len %.0f  %.1fs (rollout %.1f, sandbox %.1f, update %.1f)",
                       f("step"), f("reward_mean"), f("accuracy"), f("grad_norm"), f("tool_call_rate"),
                       f("void_turn_ratio"), f("response_length"), f("time_step"), f("time_rollout"),
                       f("time_sandbox"), f("time_update") + f("time_logprob")), final: true)
}
