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
                                        executor: pool, resume: resume, progress: ProgressLine("grpo step", total: c.steps).showGRPO)
        Status.info("reward  " + sparkline(metrics.compactMap { $0["critic/score/mean"] }))
        let curves = try writeCurves(metrics, in: run.dir)
        Status.info("metrics: \(run.metricsURL.path)\ncheckpoint: \(run.checkpointDir.path)\ncurves: \(curves.path)"
                    + "\nTensorBoard: tensorboard --logdir \(run.dir.deletingLastPathComponent().path)")
    }
}
