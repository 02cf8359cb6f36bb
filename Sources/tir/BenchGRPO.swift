import ArgumentParser
import Distributed
import Foundation
import GRPO
import Model
import Rollout
import Tensor
import Training

/// `tir bench grpo`: seconds per full GRPO step on the shape of reference/grpo_trl.py: the `small` policy
/// (random init) or, with `--checkpoint`, a real chat model prompted in its chat format; B prompts x G
/// samples, at most L new tokens, single turn, a cheap answer reward, no sandbox, no filters, one optimizer
/// update per step. Under mpirun the step is data parallel (as `tir train`) and rank 0 reports, with the time
/// of the gradient sum. Peak RSS is reported.
struct BenchGRPO: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpo", abstract: "Seconds per GRPO step (rollout + log-probs + update), TRL's reference shape.")

    @Option(help: "A real model (tir run, Hugging Face directory, .gguf) instead of the small random policy.")
    var checkpoint: String?
    @Option(help: "Prompts per step (B; default 16, 8 with --checkpoint).") var prompts: Int?
    @Option(help: "Samples per prompt (G).") var samples = 8
    @Option(help: "Max new tokens per sample (L).") var maxNewTokens = 128
    @Option(help: "Timed steps after one warm-up step (median reported).") var steps = 3
    @Option(help: "Sequences per forward/backward.") var microBatch = 32
    @Option(help: "At most this many tokens per forward/backward (a group's shared prompt counts once) (0 = no cap; default 0, 512 with --checkpoint).")
    var microBatchTokens: Int?
    @Option(help: "Threads for BLAS and our kernels (default: all cores).") var threads: Int?
    @Option(help: "fp32 | bf16 | fp16 | q8: the rollout's weights (rolloutWeights; TRL's reference samples in fp32).")
    var weights: WeightFormat = .fp32
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        try requireCount("prompts", prompts)
        try requireCount("samples", samples, min: 2)
        try requireCount("max-new-tokens", maxNewTokens)
        try requireCount("steps", steps)
        try requireCount("micro-batch", microBatch)
        try requireCount("micro-batch-tokens", microBatchTokens, min: 0)
        try requireCount("threads", threads)
    }

    func run() async throws {
        Threads.set(threads ?? Threads.available)
        let prompts = self.prompts ?? (checkpoint == nil ? 16 : 8)
        var c = GRPOConfig()
        c.promptsPerStep = prompts
        c.groupSize = samples
        c.miniBatches = 1
        c.microBatch = microBatch
        c.microBatchTokens = microBatchTokens ?? (checkpoint == nil ? 0 : 512)
        if checkpoint != nil { c.rollout.answerRule = .lastNumber }
        c.rollout.maxTurnTokens = maxNewTokens
        c.rollout.maxTrajectoryTokens = maxNewTokens
        c.rollout.maxToolCalls = 0
        c.filter.voidTurns = false
        c.skipZeroAdvantage = false     // TRL computes every sequence; so do we, for a like-for-like figure
        c.steps = steps + 1
        c.optimizer.lr = 1e-5
        c.rolloutWeights = weights
        Status.warnIfSlow(weights)
        let tasks = ArrayTaskSource((0..<(prompts * (steps + 2))).map { i in
            MathTask(id: "\(i)", question: checkpoint == nil ? "What is \(1000 + i) * \(37 + i)?" : "What is \(1000 + i) multiplied by \(37 + i)?",
                     answer: "\((1000 + i) * (37 + i))", kind: "bench", steps: 1)
        })
        let model = try checkpoint.map { try loadModel(url($0)) } ?? LanguageModel(toy: try Policy(config: .small, seed: 0))
        let trainer = try GRPOTrainer(config: c, model: model, tasks: tasks, executor: nil)
        let cluster = Cluster.shared
        var rows: [[String: Double]] = []
        for s in 0...steps {
            let m = MetricNames.current(try await trainer.trainStep())
            if s > 0 { rows.append(m) }
            if !json && cluster.isRoot { Status.line("grpo step \(s)  " + grpoSummary(m), final: true) }
        }
        guard cluster.isRoot else { return }
        let med = rows.sorted { $0["timing_s/step"]! < $1["timing_s/step"]! }[rows.count / 2]
        let out: [String: Any] = [
            "config": checkpoint.map { url($0).lastPathComponent } ?? "small", "threads": Threads.count, "weights": weights.rawValue,
            "peak_rss_mb": peakRSSMegabytes(), "micro_batch_tokens": c.microBatchTokens, "B": prompts, "G": samples, "max_new_tokens": maxNewTokens,
            "step_s": med["timing_s/step"]!, "rollout_s": med["tir/timing_s/rollout"]!, "logprob_s": med["tir/timing_s/logprob"]!,
            "update_s": med["tir/timing_s/update"]!, "ranks": cluster.size, "allreduce_s": med["tir/timing_s/allreduce"] ?? 0,
            "response_length": med["response_length/mean"]!,
            "completions_per_s": Double(prompts * samples) / med["timing_s/step"]!,
            "steps": rows.map { $0["timing_s/step"]! },
        ]
        if json { try printBenchJSON(out) } else {
            print(String(format: "bench grpo: %@ (%@ rollout weights), %d x %d, <= %d new tokens, %d rank(s) x %d threads: %.2f s/step (rollout %.2f, log-probs+loss %.2f, backward+AdamW %.2f, of it gradient sum %.2f), peak RSS %.0f MB",
                         out["config"] as! String, weights.rawValue, prompts, samples, maxNewTokens, cluster.size, Threads.count, med["timing_s/step"]!,
                         med["tir/timing_s/rollout"]!, med["tir/timing_s/logprob"]!, med["tir/timing_s/update"]!,
                         med["tir/timing_s/allreduce"] ?? 0, peakRSSMegabytes()))
        }
    }
}
