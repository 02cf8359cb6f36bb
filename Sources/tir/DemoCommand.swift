import Foundation
import ArgumentParser
import GRPO
import Model
import Pretrain
import Rollout
import SandboxExecutor
import Training

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "End to end on built-in defaults: pretrain (or reuse) a base policy, evaluate it, run GRPO, evaluate again.")

    @Option(help: "Directory for all artefacts (default runs/demo).") var out: String?
    @Option(help: "GRPO steps (default: the demo preset).") var steps: Int?
    @Option(help: "Pretraining steps (default: the demo preset).") var pretrainSteps: Int?
    @Option(help: "Held-out tasks in each evaluation (default 200, 64 with --model).") var evalTasks: Int?
    @Option(help: "Samples per held-out task (default 2; 1 with --model, which evaluates greedily).") var evalSamples: Int?
    @Option(help: "Seed of everything.") var seed: UInt64 = 1
    @Flag(help: "Delete the runs in --out (base and GRPO) and start over.") var force = false
    @Option(help: ArgumentHelp("Train a real pretrained model instead of the toy policy: smollm2 or qwen2.5-coder (fetched "
            + "with scripts/get-model.sh when missing), or a path (Hugging Face directory, .gguf file). Default --out "
            + "runs/demo-NAME, --eval-tasks 64, greedy evaluation."))
    var model: String?

    func validate() throws {
        try requireCount("steps", steps)
        try requireCount("pretrain-steps", pretrainSteps)
        try requireCount("eval-tasks", evalTasks)
        try requireCount("eval-samples", evalSamples)
    }

    func run() async throws {
        try requireOneProcess("tir demo")
        if let model {
            let name = KnownModel(rawValue: model)?.rawValue ?? url(model).deletingPathExtension().lastPathComponent
            try await RealModelDemo(model: model, out: url(out ?? "runs/demo-\(name)"), steps: steps, evalTasks: evalTasks ?? 64,
                                    evalSamples: evalSamples ?? 1, seed: seed, force: force).run()
            return
        }
        let evalTasks = self.evalTasks ?? 200, evalSamples = self.evalSamples ?? 2
        let start = Date()
        let dir = url(out ?? "runs/demo")
        let baseDir = dir.appendingPathComponent("base")
        var pc = PretrainConfig()
        pc.seed = seed
        if let pretrainSteps { pc.steps = pretrainSteps }
        var gc = GRPOConfig.demo
        gc.seed = seed
        if let steps { gc.steps = steps }
        try gc.validate()

        Status.machine()
        // 1. Base policy: reuse a finished one with these settings, resume a partial one, or train it; a base
        // pretrained with other settings (another seed, other steps) is an error, not reused.
        Status.info("[1/4] base policy in \(baseDir.path)")
        try pretrainBase(pc, dir: baseDir, start: force ? .force : .resumeOrNew)
        let run = GRPORun(config: gc, dir: dir.appendingPathComponent("grpo"))
        if !force { try run.check(.resumeOrNew, base: baseDir) }   // before the evaluation, not after it
        // 2. Evaluate it, under the episode limits GRPO trains with.
        Status.info("[2/4] evaluating the base policy on \(evalTasks) held-out tasks x \(evalSamples) samples")
        let before = try await evaluateOnHeldOut(try loadPolicy(baseDir), tasks: evalTasks, samples: evalSamples, seed: seed,
                                                 rollout: gc.rollout, difficulty: gc.tasks.difficulty)
        // 3. GRPO (resumes if a previous demo was interrupted).
        Status.info("[3/4] GRPO: \(gc.steps) steps of \(gc.promptsPerStep) prompts x \(gc.groupSize) samples")
        let pool = try makeSandbox(gc.sandbox)
        defer { pool.shutdown() }
        let metrics = try await run.run(base: baseDir, tasks: ToyData(seed: seed, difficulty: gc.tasks.difficulty).trainTasks,
                                        executor: pool, start: force ? .force : .resumeOrNew, progress: ProgressLine("grpo step", total: gc.steps).showGRPO)
        // 4. Evaluate the trained policy with the same tasks, samples and limits.
        Status.info("[4/4] evaluating the trained policy")
        guard let trained = try run.latestCheckpoint() else { throw ConfigError("the GRPO run left no checkpoint") }
        let after = try await evaluateOnHeldOut(try Checkpoint.load(trained), tasks: evalTasks, samples: evalSamples,
                                                seed: seed, rollout: gc.rollout, difficulty: gc.tasks.difficulty)
        let table = beforeAfterTable(before, after)
        let rewards = metrics.compactMap { $0["critic/score/mean"] }
        let summary = """
        \(table)

        reward per GRPO step  \(sparkline(rewards))  (\(String(format: "%+.2f", rewards.first ?? .nan)) -> \(String(format: "%+.2f", rewards.last ?? .nan)))
        total time            \(duration(Date().timeIntervalSince(start)))

        artefacts
          base policy         \(baseDir.path)
          trained policy      \(trained.path)
          GRPO metrics        \(run.metricsURL.path)
          this summary        \(dir.appendingPathComponent("summary.md").path)
        """
        try writeSummary(summary, before: before, after: after, to: dir)
        print(summary)
    }
}

func beforeAfterTable(_ b: EvalReport, _ a: EvalReport) -> String {
    func row(_ name: String, _ x: Double, _ y: Double, pct: Bool = true) -> String {
        let f = { (v: Double) in pct ? String(format: "%6.1f%%", 100 * v) : String(format: "%7.2f", v) }
        return name.padding(toLength: 22, withPad: " ", startingAt: 0) + f(x) + "   " + f(y) + "   "
            + (pct ? String(format: "%+6.1f pts", 100 * (y - x)) : String(format: "%+7.2f", y - x))
    }
    return ["metric                  before    after   change",
            row("accuracy (pass@1)", b.accuracy, a.accuracy),
            row("tool-call rate", b.toolCallRate, a.toolCallRate),
            row("exec-error rate", b.execErrorRate, a.execErrorRate),
            row("void-turn rate", b.voidTurnRate, a.voidTurnRate),
            row("mean turns", b.meanTurns, a.meanTurns, pct: false),
            row("mean length (tokens)", b.meanLength, a.meanLength, pct: false)].joined(separator: "\n")
}

func writeSummary(_ text: String, before: EvalReport, after: EvalReport, to dir: URL) throws {
    try Data(("```\n" + text + "\n```\n").utf8).write(to: dir.appendingPathComponent("summary.md"))
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try enc.encode(["before": before, "after": after]).write(to: dir.appendingPathComponent("summary.json"))
}
