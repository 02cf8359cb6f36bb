import Foundation
import ArgumentParser
import Distributed
import GRPO
import Model
import Pretrain
import Rollout
import SandboxExecutor
import Training

struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "GRPO training of a policy on the toy TIR task or on a JSONL file of tasks.",
        discussion: "Settings come from defaults (with --resume: the run's saved config.json), then --config FILE "
            + "(JSON, sections as in --list-config), then --set section.field=value overrides. Run with --list-config "
            + "to see every field with its default and meaning.")

    @Option(help: "Base policy: a tir run or checkpoint, a Hugging Face directory or a .gguf file (default runs/base; resuming: the run's own base).")
    var checkpoint: String?
    @Option(help: "Run directory: config.json, metrics.jsonl, checkpoint-NNNNNN/, latest.") var out = "runs/grpo"
    @Option(help: "JSON config file (unknown fields are an error).") var config: String?
    @Option(name: .customLong("set"), help: "Override one field, e.g. --set rollout.maxTurnTokens=96 (repeatable).")
    var overrides: [String] = []
    @Option(help: "Train on this JSONL file of {question|problem, answer|solution} records (sets tasks.data).") var data: String?
    @Option(help: "Evaluate on this JSONL file instead of a held-out part of --data (sets tasks.evalData).") var evalData: String?
    @Option(help: "After training, evaluate on this many held-out tasks, 1 sample each (0 = skip); writes eval.json.")
    var evalTasks = 0
    @Flag(help: "Continue the run in --out from its last checkpoint (same settings).") var resume = false
    @Flag(help: "Delete the run in --out and start over.") var force = false
    @Flag(help: "Print every config field with its default and exit.") var listConfig = false

    func validate() throws {
        if resume && force { throw ValidationError("--resume and --force exclude each other") }
        try requireCount("eval-tasks", evalTasks, min: 0)
    }

    func run() async throws {
        if listConfig {
            let defaults = Dictionary(uniqueKeysWithValues: ConfigCoding.leaves(try ConfigCoding.tree(GRPOConfig())).map { ($0.path, $0.value) })
            for (k, doc) in GRPOConfig.documentation { print("\(k) = \(defaults[k].map(ConfigCoding.show) ?? "")\n    \(doc)") }
            return
        }
        let dir = url(out)
        let c = try trainConfig(savedIn: dir)
        let base = try resolveCheckpoint(checkpoint.map(url) ?? (resume ? GRPORun.recordedBase(dir) : nil) ?? url("runs/base"))
        let (tasks, plan) = try {   // the base is loaded again by the run; this copy is gone before it
            let baseModel = try LanguageModel.load(base)
            return (try RunTasks.load(c, model: baseModel), MemoryPlan.of(c, model: baseModel.policy.config, ranks: Cluster.shared.size))
        }()
        let start: RunStart = force ? .force : resume ? .resume : .new
        let run = GRPORun(config: c, dir: dir)
        let cluster = Cluster.shared   // under mpirun: rank 0 owns the run directory and the output
        if cluster.isRoot { try run.check(start, base: base) }
        Status.machine()
        Status.warnIfSlow(c.rolloutWeights)
        if cluster.size > 1 { Status.info("data parallel: rank \(cluster.rank) of \(cluster.size)") }
        Status.info("GRPO: \(c.steps) steps of \(c.promptsPerStep) prompts x \(c.groupSize) samples on \(tasks.summary) -> \(dir.path)")
        Status.info("memory: about \(plan.summary)")   // GRPORun.run refuses a run that does not fit
        let pool = try makeSandbox(c.sandbox)
        defer { pool.shutdown() }
        let metrics = try await run.run(base: base, tasks: tasks.train, executor: c.rollout.executeCode ? pool : nil,
                                        start: start, progress: ProgressLine("grpo step", total: c.steps).showGRPO)
        guard cluster.isRoot else { return }
        Status.info("reward  " + sparkline(metrics.compactMap { $0["critic/score/mean"] }))
        let curves = try writeCurves(metrics, in: run.dir)
        Status.info("metrics: \(run.metricsURL.path)\ncheckpoint: \(try run.latestCheckpoint()?.path ?? "-")\ncurves: \(curves.path)"
                    + "\nTensorBoard: tensorboard --logdir \(run.dir.deletingLastPathComponent().path)")
        if evalTasks > 0, let checkpoint = try run.latestCheckpoint() {
            let (report, _) = try await evaluate(model: try LanguageModel.load(checkpoint), tasks: try tasks.evaluation(evalTasks),
                                                 samples: 1, config: c.rollout, executor: pool, seed: c.seed) { done, total in
                Status.line("eval \(done)/\(total) held-out tasks", final: done == total)
            }
            try writeJSON(report, to: dir.appendingPathComponent("eval.json"))
            print(report.table)
        }
    }

    /// Defaults (or, resuming, the run's saved config), then --config, then --data/--eval-data, then --set.
    func trainConfig(savedIn dir: URL) throws -> GRPOConfig {
        let start = resume ? try GRPORun.savedConfig(dir) : nil
        let file = try config.map { path in
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read --config \(path)") }
            return data
        } ?? Data()
        var sets = overrides
        if let data { sets.append("tasks.data=" + url(data).standardizedFileURL.path) }
        if let evalData { sets.append("tasks.evalData=" + url(evalData).standardizedFileURL.path) }
        return try GRPOConfig.load(json: file, overrides: sets, over: start)
    }
}
