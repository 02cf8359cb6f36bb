import Foundation
import Tensor
import GRPO
import Model
import Rollout
import Training

/// `tir demo --model NAME|PATH`: a real pretrained model learns to use the interpreter on the built-in
/// arithmetic tasks. Evaluate on held-out tasks (greedy), GRPO (`GRPOConfig.realModelDemo`), evaluate the trained
/// model the same way, save it as a Hugging Face directory and print the before/after table. Re-running
/// the command resumes an interrupted run.
struct RealModelDemo {
    var model: String
    var out: URL
    var steps: Int?
    var evalTasks: Int
    var evalSamples: Int
    var seed: UInt64
    var force: Bool

    func run() async throws {
        let start = Date()
        let path = try KnownModel.resolve(model)
        var gc = GRPOConfig.realModelDemo
        gc.seed = seed
        if let steps { gc.steps = steps }
        try gc.validate()
        Status.machine()
        let run = GRPORun(config: gc, dir: out.appendingPathComponent("grpo"))
        if !force { try run.check(.resumeOrNew, base: path) }   // before the evaluation, not after it
        let tasks = ArithmeticTasks(seed: seed, difficulty: gc.tasks.difficulty)
        let heldOut = tasks.heldOut(count: evalTasks)
        let pool = try makeSandbox(gc.sandbox)
        defer { pool.shutdown() }
        // Evaluation under the training's episode limits and answer rule, decoding greedily.
        var evalRollout = gc.rollout
        evalRollout.sampling = SamplingParams(temperature: 0)
        func evaluateModel(_ m: LanguageModel) async throws -> EvalReport {
            let progress = ProgressLine("eval tasks", total: heldOut.count)
            return try await evaluate(model: m, tasks: heldOut, samples: evalSamples, config: evalRollout, executor: pool,
                                      seed: seed, batchTrajectories: 64) { done, _ in progress.show(step: done, "") }.report
        }

        Status.info("[1/3] evaluating \(path.lastPathComponent) on \(heldOut.count) held-out tasks x \(evalSamples) samples "
                    + "(answer rule: \(gc.rollout.answerRule.rawValue), greedy)")
        let before: EvalReport, plan: MemoryPlan
        do {   // the base model is freed before training loads its own copy
            let base = try LanguageModel.load(path)
            plan = MemoryPlan.of(gc, model: base.policy.config)
            try plan.check(available: Int(ProcessInfo.processInfo.physicalMemory))
            before = try await evaluateModel(base)
        }
        Status.info("[2/3] GRPO: \(gc.steps) steps of \(gc.promptsPerStep) prompts x \(gc.groupSize) samples -> \(run.dir.path)")
        Status.info("memory: about \(plan.summary)")
        let metrics = try await run.run(base: path, tasks: tasks.train, executor: pool, start: force ? .force : .resumeOrNew,
                                        progress: ProgressLine("grpo step", total: gc.steps).showGRPO)
        guard let checkpoint = try run.latestCheckpoint() else { throw ConfigError("the GRPO run left no checkpoint") }
        Status.info("[3/3] evaluating the trained model")
        let trained = try LanguageModel.load(checkpoint)
        let after = try await evaluateModel(trained)
        let modelDir = out.appendingPathComponent("model")
        try ModelExport.writeHuggingFace(trained, to: modelDir)
        let curves = try writeCurves(metrics, in: run.dir)

        let rewards = metrics.compactMap { $0["critic/score/mean"] }
        let summary = """
        \(path.lastPathComponent): \(heldOut.count) held-out arithmetic tasks x \(evalSamples) samples, greedy, answer rule \
        \(gc.rollout.answerRule.rawValue); GRPO \(gc.steps) steps x \(gc.promptsPerStep) prompts x \(gc.groupSize) samples at temperature \
        \(gc.rollout.sampling.temperature)

        \(beforeAfterTable(before, after))

        reward per GRPO step  \(sparkline(rewards))  (\(String(format: "%+.2f", rewards.first ?? .nan)) -> \(String(format: "%+.2f", rewards.last ?? .nan)))
        total time            \(duration(Date().timeIntervalSince(start)))

        artefacts
          trained model       \(modelDir.path)  (Hugging Face directory: transformers, tir --checkpoint)
          GRPO run            \(run.dir.path)  (metrics.jsonl, tb/, checkpoints)
          curves              \(curves.path)
          this summary        \(out.appendingPathComponent("summary.md").path)
        """
        try writeSummary(summary, before: before, after: after, to: out)
        print(summary)
    }
}
