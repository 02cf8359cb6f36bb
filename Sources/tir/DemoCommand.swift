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

    @Option(help: "Directory for all artefacts.") var out = "runs/demo"
    @Option(help: "GRPO steps (default: the demo preset).") var steps: Int?
    @Option(help: "Pretraining steps (default: the demo preset).") var pretrainSteps: Int?
    @Option(help: "Held-out tasks in each evaluation.") var evalTasks = 200
    @Option(help: "Samples per held-out task.") var evalSamples = 2
    @Option(help: "Seed of everything.") var seed: UInt64 = 1

    func run() async throws {
        let start = Date()
        let dir = url(out)
        let baseDir = dir.appendingPathComponent("base")
        var pc = PretrainConfig()
        pc.seed = seed
        if let pretrainSteps { pc.steps = pretrainSteps }
        var gc = GRPOConfig.demo
        gc.seed = seed
        if let steps { gc.steps = steps }

        Status.machine()
        // 1. Base policy: reuse a finished one, resume a partial one, or train it.
        if TrainCheckpoint.hasState(baseDir), let (_, state, _, _) = try? TrainCheckpoint.load(baseDir), state.step >= pc.steps {
            Status.info("[1/4] reusing the base policy in \(baseDir.path)")
        } else {
            Status.info("[1/4] pretraining the base policy")
            try await pretrainBase(pc, dir: baseDir, resume: true)
        }
        // 2. Evaluate it.
        Status.info("[2/4] evaluating the base policy on \(evalTasks) held-out tasks x \(evalSamples) samples")
        let before = try await evaluateOnHeldOut(try Checkpoint.load(baseDir), tasks: evalTasks, samples: evalSamples, seed: seed)
        // 3. GRPO (resumes if a previous demo was interrupted).
        Status.info("[3/4] GRPO: \(gc.steps) steps of \(gc.promptsPerStep) prompts x \(gc.groupSize) samples")
        let run = GRPORun(config: gc, dir: dir.appendingPathComponent("grpo"))
        let metrics = try await run.run(base: baseDir, tasks: ToyData(seed: seed, difficulty: gc.difficulty).trainTasks,
                                        executor: try makeSandbox(timeout: gc.sandboxTimeout), resume: true,
                                        progress: ProgressLine("grpo step", total: gc.steps).showGRPO)
        // 4. Evaluate the trained policy with the same tasks and samples.
        Status.info("[4/4] evaluating the trained policy")
        let after = try await evaluateOnHeldOut(try Checkpoint.load(run.checkpointDir), tasks: evalTasks,
                                                samples: evalSamples, seed: seed)
        let table = beforeAfterTable(before, after)
        let rewards = metrics.compactMap { $0["critic/score/mean"] }
        let summary = """
        \(table)

        reward per GRPO step  \(sparkline(rewards))  (\(String(format: "%+.2f", rewards.first ?? .nan)) -> \(String(format: "%+.2f", rewards.last ?? .nan)))
        total time            \(duration(Date().timeIntervalSince(start)))

        artefacts
          base policy         \(baseDir.path)
          trained policy      \(run.checkpointDir.path)
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
