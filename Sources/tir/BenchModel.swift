import ArgumentParser
import Foundation
import Model
import Tensor
import Training

/// Shapes of ../shared/reference/torch_reference.py, so figures compare one to one.
struct ReferenceShape {
    let config: PolicyConfig, batch: Int, ctx: Int

    static func named(_ name: String) throws -> ReferenceShape {
        switch name {
        case "small": return ReferenceShape(config: .small, batch: 16, ctx: 256)
        case "base": return ReferenceShape(config: .base, batch: 8, ctx: 512)
        default: throw ValidationError("--config must be small or base")
        }
    }
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

/// The process's peak resident set so far (getrusage's ru_maxrss, KiB on Linux).
func peakRSSMegabytes() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

/// One optimizer step of next-token training on random tokens at a reference shape (forward, cross-entropy,
/// backward, AdamW): what `tir bench train` times and `tir bench peak` takes its sgemm shapes from.
final class TrainingStep {
    let shape: ReferenceShape, policy: Policy, opt: AdamW
    let inputs: [Int32], targets: [Int32]
    var phase = [String: Double]()
    /// When set, each step's backward adds its time by op here.
    var backwardProfile: BackwardProfile?
    var tokens: Int { shape.batch * shape.ctx }

    /// A fresh seeded policy of the shape's config, or `policy` (a loaded model).
    init(_ shape: ReferenceShape, policy: Policy? = nil) throws {
        self.shape = shape
        self.policy = try policy ?? Policy(config: shape.config, seed: 0)
        opt = AdamW(arena: self.policy.arena, lr: 1e-3)
        var rng = RNG(seed: 0)
        let seq = (0..<(shape.batch * (shape.ctx + 1))).map { _ in Int32(rng.int(0..<shape.config.vocab)) }
        var inputs: [Int32] = [], targets: [Int32] = []
        for b in 0..<shape.batch {
            let row = seq[b * (shape.ctx + 1) ..< (b + 1) * (shape.ctx + 1)]
            inputs += row.dropLast(); targets += row.dropFirst()
        }
        self.inputs = inputs; self.targets = targets
    }

    /// Runs one step; returns its seconds and keeps the phase split in `phase`.
    func run() throws -> Double {
        let t0 = Date()
        policy.arena.zeroGrad()
        let logits = try policy.logits(tokens: inputs, batch: shape.batch, seqLen: shape.ctx)
        let loss = try crossEntropy(logits, targets: targets)
        let t1 = Date()
        try loss.backward(profile: backwardProfile)
        let t2 = Date()
        opt.update()
        let t3 = Date()
        phase["forward_s"] = t1.timeIntervalSince(t0); phase["backward_s"] = t2.timeIntervalSince(t1)
        phase["adamw_s"] = t3.timeIntervalSince(t2)
        return t3.timeIntervalSince(t0)
    }

    /// The step's sgemm calls by shape, and the seconds they would take if each ran as fast as an isolated
    /// sgemm of its shape (the better of our split and OpenBLAS's own threads).
    func sgemmBound() throws -> (calls: [GEMMProfile.Shape: Int], seconds: Double) {
        let calls = try GEMMProfile.record { _ = try run() }
        let seconds = calls.reduce(0.0) { sum, call in
            let best = min(GEMMProfile.time(call.key), GEMMProfile.time(call.key, openblasThreads: Threads.count))
            return sum + Double(call.value) * best
        }
        return (calls, seconds)
    }
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Tokens/s of one optimizer step (forward + backward + AdamW), the reference's batch shape.",
        discussion: """
        Also reports the step's GEMM GFLOP/s and its sgemm-bound limit: the time the step's sgemm calls would         take if each ran as fast as an isolated sgemm of the same shape (see `tir bench peak`).
        """)

    @Option(help: "small | base") var config = "small"
    @Option(help: "Time this model instead (a tir run, a Hugging Face directory or a .gguf file), with --batch x --ctx.")
    var checkpoint: String?
    @Option(help: "Sequences per step with --checkpoint.") var batch = 8
    @Option(help: "Tokens per sequence with --checkpoint.") var ctx = 256
    @Option(help: "Threads for BLAS and our kernels (default: all cores).") var threads: Int?
    @Option(help: "Timed steps (median reported).") var steps = 5
    @Flag(help: "Also report the backward time of each op, summed over the timed steps.") var profile = false
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        try requireCount("steps", steps)
        try requireCount("threads", threads)
        try requireCount("batch", batch)
        try requireCount("ctx", ctx, min: 2)
    }

    func run() throws {
        Threads.set(threads ?? Threads.available)
        let model = try checkpoint.map { try loadModel(url($0)) }
        let shape = try model.map { ReferenceShape(config: $0.policy.config, batch: batch, ctx: ctx) } ?? ReferenceShape.named(config)
        let config = checkpoint ?? self.config
        let step = try TrainingStep(shape, policy: model?.policy)
        for _ in 0..<2 { _ = try step.run() }
        if profile { step.backwardProfile = BackwardProfile() }
        let med = median(try (0..<steps).map { _ in try step.run() })
        let phase = step.phase, backwardProfile = step.backwardProfile
        step.backwardProfile = nil
        let (calls, bound) = try step.sgemmBound()
        let gflop = calls.reduce(0.0) { $0 + Double($1.value) * $1.key.flops } * 1e-9
        var out: [String: Any] = ["config": config, "params": step.policy.parameterCount,
                                  "batch": shape.batch, "ctx": shape.ctx, "step_s": med,
                                  "tokens_per_s": Double(step.tokens) / med, "last_step_split": phase,
                                  "gemm_gflop_per_step": gflop, "achieved_gemm_gflops": gflop / med,
                                  "sgemm_bound_s": bound, "fraction_of_sgemm_bound": bound / med,
                                  "peak_rss_mb": peakRSSMegabytes()]
        if let backwardProfile {
            out["backward_ops"] = backwardProfile.entries.map { ["op": $0.op, "calls": $0.calls, "seconds": $0.seconds] }
        }
        if json { try printBenchJSON(out) } else {
            print(String(format: "bench train %@: %d params, batch %d x %d, %d threads: %.3f s/step, %.0f tokens/s",
                         config, step.policy.parameterCount, shape.batch, shape.ctx, Threads.count, med,
                         Double(step.tokens) / med))
            print(String(format: "  last step: forward %.3f s, backward %.3f s, AdamW %.3f s",
                         phase["forward_s"]!, phase["backward_s"]!, phase["adamw_s"]!))
            print(String(format: "  GEMMs: %.1f GFLOP/step, %.0f GFLOP/s achieved; sgemm-bound limit %.3f s = %.0f%% of the step",
                         gflop, gflop / med, bound, 100 * bound / med))
            print(String(format: "  peak RSS %.0f MB", peakRSSMegabytes()))
            print("  " + MachineInfo.current.line)
            if let backwardProfile { print("  backward by op, summed over \(steps) timed steps:\n" + backwardProfile.report) }
        }
    }
}

struct BenchDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode", abstract: "New tokens/s of batched KV-cache sampling (prompt 32 tokens, temperature 1).")

    @Option(help: "small | base") var config = "small"
    @Option(help: "Time this model instead (a tir run, a Hugging Face directory or a .gguf file); default batch 16.")
    var checkpoint: String?
    @Option(help: "Threads for BLAS and our kernels (default: all cores).") var threads: Int?
    @Option(help: "New tokens per sequence.") var newTokens = 128
    @Option(help: "Sequences decoded together (default: the reference script's batch for --config).") var batch: Int?
    @Option(help: "fp32 | bf16 | fp16 | q8: the weights' format in the decode session (bf16 is stored as bf16; q8: 8-bit blocks, integer products with AVX512-VNNI or AVX2).")
    var weights: WeightFormat = .fp32
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        try requireCount("new-tokens", newTokens)
        try requireCount("batch", batch)
        try requireCount("threads", threads)
    }

    func run() throws {
        Threads.set(threads ?? Threads.available)
        let model = try checkpoint.map { try loadModel(url($0)) }
        let shape = try model.map { ReferenceShape(config: $0.policy.config, batch: 16, ctx: 32) } ?? ReferenceShape.named(config)
        let config = checkpoint ?? self.config
        let batch = batch ?? shape.batch
        let policy = try model?.policy ?? Policy(config: shape.config, seed: 0)
        // Prompts of ordinary text tokens: the real models' padding rows and control tokens come last / first.
        let vocab = model.map { m in (0..<m.policy.config.vocab).last { !m.tokenizer.tokenBytes(Int32($0)).isEmpty } ?? 3 } ?? shape.config.vocab
        var rng = RNG(seed: 1)
        let reqs = (0..<batch).map { _ in
            GenerationRequest(prompt: (0..<32).map { _ in Int32(rng.int(3..<vocab)) }, maxNewTokens: newTokens)
        }
        Status.warnIfSlow(weights)
        _ = try generate(policy, reqs.map { GenerationRequest(prompt: $0.prompt, maxNewTokens: 8) }, weightFormat: weights, seed: 0)
        let t0 = Date()
        let out = try generate(policy, reqs, eos: model?.tokenizer.eos ?? [ByteTokenizer.eos], minNewTokens: newTokens,
                               weightFormat: weights, seed: 2)
        let dt = Date().timeIntervalSince(t0)
        let generated = out.map(\.tokens.count).reduce(0, +)
        let result: [String: Any] = ["config": config, "weights": weights.rawValue, "threads": Threads.count, "batch": batch,
                                     "prompt_tokens": 32, "new_tokens": newTokens, "seconds": dt,
                                     "tokens_per_s": Double(generated) / dt, "peak_rss_mb": peakRSSMegabytes()]
        if json { try printBenchJSON(result) } else {
            print(String(format: "bench decode %@ (%@ weights): batch %d, prompt 32, %d new tokens, %d threads: %.3f s, %.0f new tokens/s, peak RSS %.0f MB",
                         config, weights.rawValue, batch, newTokens, Threads.count, dt, Double(generated) / dt, peakRSSMegabytes()))
        }
    }
}
