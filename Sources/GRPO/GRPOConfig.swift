import Foundation
import Model
import Rollout
import Tensor
import Training

/// Every knob of a GRPO run, in sections: the batch and schedule at the top, then `optimizer`, `loss`, `kl`,
/// `filter`, `rollout` (episode limits and sampling, also what evaluation of the run uses), `reward`,
/// `sandbox` and `tasks`. Loaded from JSON by `GRPOConfig.schema` (unknown keys are errors, a file names only
/// what it changes) and overridable with `--set section.field=value`. `documentation` describes every field.
public struct GRPOConfig: Codable, Equatable, Sendable {
    public var seed: UInt64 = 1
    public var steps: Int = 40
    public var promptsPerStep: Int = 16
    public var groupSize: Int = 8
    public var miniBatches: Int = 2
    public var microBatch: Int = 16
    /// At most this many tokens per forward/backward (0 = no cap; a shared prompt counts once): bounds activation memory.
    public var microBatchTokens: Int = 0
    /// Size micro-batches so the estimated peak memory (`MemoryPlan`) stays within this many GB (0 = off:
    /// `microBatchTokens` as set). A function of the config and the model's shape, never of the machine.
    public var memoryBudgetGB: Double = 0
    public var skipZeroAdvantage: Bool = true
    public var advantage: AdvantageEstimator = .grpo
    public var dynamicSampling: Bool = false
    public var maxResampleRounds: Int = 2
    /// Passes over each rollout batch; updates per step = miniBatches x ppoEpochs, all but the first off-policy.
    public var ppoEpochs: Int = 1
    /// The rollout samples from a copy of the policy rounded to this format, and rounds its KV cache to
    /// `rolloutKVCache`; training stays fp32 (a reduced-precision inference engine, docs/INSTABILITY.md).
    public var rolloutWeights: WeightFormat = .fp32
    public var rolloutKVCache: NumberFormat = .fp32
    public var checkpointEvery: Int = 10
    public var keepCheckpoints: Int = 2
    public var optimizer = OptimizerConfig()
    public var loss = PolicyLossConfig()
    public var correction = ImportanceCorrectionConfig()
    public var kl = KLConfig()
    public var filter = TrajectoryFilter()
    public var rollout = RolloutConfig()
    public var reward = RewardConfig()
    public var sandbox = SandboxConfig()
    public var tasks = TaskConfig()

    public init() {}

    /// Range-checks every field; the message names the field by its dotted path and gives the allowed range.
    public func validate() throws {
        let check = FieldCheck()
        try check.int("steps", steps, 1...10_000_000)
        try check.int("promptsPerStep", promptsPerStep, 1...4096)
        try check.require((2...1024).contains(groupSize), "groupSize", "in 2...1024 (GRPO compares samples within a group)",
                          got: groupSize)
        try check.int("miniBatches", miniBatches, 1...(promptsPerStep * groupSize))
        try check.int("microBatch", microBatch, 1...4096)
        try check.int("microBatchTokens", microBatchTokens, 0...(1 << 24))
        try check.number("memoryBudgetGB", memoryBudgetGB, 0...1e6)
        try check.int("maxResampleRounds", maxResampleRounds, 0...100)
        try check.int("ppoEpochs", ppoEpochs, 1...100)
        try check.int("checkpointEvery", checkpointEvery, 0...10_000_000)
        try check.int("keepCheckpoints", keepCheckpoints, 1...1000)
        try optimizer.validate(check.section("optimizer"))
        try loss.validate(check.section("loss"))
        try correction.validate(check.section("correction"))
        try kl.validate(check.section("kl"))
        try rollout.validate(check.section("rollout"))
        try sandbox.validate(check.section("sandbox"))
        try tasks.validate(check.section("tasks"))
    }

    /// Decodes (`base` or the defaults, then the file, then `--set` overrides) and validates.
    public static func load(json data: Data, overrides: [String] = [], over base: GRPOConfig? = nil) throws -> GRPOConfig {
        let config = try schema.decode(json: data, overrides: overrides, over: base)
        try config.validate()
        return config
    }

    public var json: String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try! enc.encode(self), as: UTF8.self)
    }

    public static let schema = ConfigSchema(defaults: GRPOConfig(), documentation: documentation,
                                            aliases: flatNames, migrate: migrateFlatValue)

    public static let documentation: [(key: String, doc: String)] = [
        ("seed", "fixes tasks, sampling and initialization"),
        ("steps", "GRPO steps (one rollout batch each)"),
        ("promptsPerStep", "B: prompts per rollout batch"),
        ("groupSize", "G: samples per prompt (the GRPO group)"),
        ("miniBatches", "M: optimizer updates per rollout batch (the batch is split into M mini-batches)"),
        ("microBatch", "sequences per forward/backward (gradient accumulation inside a mini-batch; a group's samples go together, longest first, and share their prompt's forward)"),
        ("microBatchTokens", "at most this many tokens per forward/backward (a prompt shared by a group's samples counts once), 0 = no cap: the knob of activation memory"),
        ("memoryBudgetGB", "size micro-batches so the estimated peak memory stays within this many GB (0 = off: microBatchTokens as set); the run refuses to start if the estimate exceeds the machine's memory"),
        ("skipZeroAdvantage", "skip forward/backward of trajectories that carry no gradient (advantage 0 or fully masked, no KL): same update, less work"),
        ("advantage", "grpo ((R-mean)/(std+eps), unbiased std) | drGRPO (R-mean) | rloo (leave-one-out)"),
        ("dynamicSampling", "DAPO: resample prompts until the batch has B groups with reward signal"),
        ("maxResampleRounds", "extra rollout rounds allowed by dynamic sampling per step"),
        ("checkpointEvery", "save a resumable checkpoint every K steps (0 = only at the end)"),
        ("keepCheckpoints", "checkpoint-NNNNNN/ directories kept in the run (the newest ones)"),
        ("ppoEpochs", "passes over each rollout batch (each of M mini-batches); updates per step = miniBatches x ppoEpochs, all but the first off-policy"),
        ("rolloutWeights", "fp32 | bf16 | fp16 | q8: the rollout samples from a copy of the policy rounded to this format (training stays fp32; bf16 is stored as bf16: half the bytes per decode step; q8 is 8-bit weight blocks of 32 times 15-bit activation blocks, integer products with AVX512-VNNI or AVX2: about a third of fp32's bytes)"),
        ("rolloutKVCache", "fp32 | bf16 | fp16: the rollout's KV cache rounds keys and values to this format"),
        ("optimizer.lr", "peak learning rate of AdamW"),
        ("optimizer.schedule", "constant | cosine (linear warmup, then cosine to 10% of peak)"),
        ("optimizer.warmupSteps", "optimizer updates of linear warmup"),
        ("optimizer.weightDecay", "AdamW decoupled weight decay on matrices"),
        ("optimizer.gradClip", "clip-by-global-norm threshold; the logged grad_norm is before clipping"),
        ("loss.epsLow", "lower clip range of the ratio (1 - epsLow)"),
        ("loss.epsHigh", "upper clip range of the ratio (1 + epsHigh, clip-higher)"),
        ("loss.dualClip", "dual-clip constant c > 1 for negative advantages (null = off)"),
        ("loss.aggregation", "tokenMean | seqMeanTokenMean | seqMeanTokenSum | drGRPO"),
        ("loss.drGRPONormalizer", "the constant divisor of the drGRPO aggregation"),
        ("correction.recomputeOldLogProbs", "old log-probs from one no-grad trainer forward before the first update (verl), instead of the sampler's behaviour log-probs"),
        ("correction.mode", "none | tis (loss x min(rho, tisCap)) | mis (loss x rho, 0 outside [misLow, misHigh]); rho = exp(old - behaviour), needs recomputeOldLogProbs"),
        ("correction.tisCap", "truncation cap of tis"),
        ("correction.misLow", "lower bound of the rho band mis keeps"),
        ("correction.misHigh", "upper bound of the rho band mis keeps"),
        ("kl.beta", "weight of the KL penalty to the frozen base policy (0 = off, as in ToRL)"),
        ("kl.estimator", "k1 | k2 | k3"),
        ("filter.voidTurns", "SimpleTIR: trajectories with a void turn get loss mask 0"),
        ("filter.truncated", "trajectories that hit a token limit get loss mask 0"),
        ("filter.maskToolTokens", "tool-output tokens carry no gradient (false only for the ablation experiment)"),
        ("rollout.maxToolCalls", "ToRL's C: executed code blocks per trajectory (1 = single-turn)"),
        ("rollout.maxTurnTokens", "new policy tokens per turn; a cut turn is void"),
        ("rollout.maxTrajectoryTokens", "new tokens per trajectory (policy + tool)"),
        ("rollout.observationCap", "bytes of tool output inserted (head + marker + tail)"),
        ("rollout.observationStyle", "torl (tool output capped at observationCap) | simpletir ('Code execution result: ...', first and last 256 characters)"),
        ("rollout.instruction", "follows the question in a chat model's user turn (\"\" = the built-in one stating the observation style's convention)"),
        ("rollout.retokenizeTurns", "SimpleTIR's decode / re-tokenize round trip between turns (the sampled ids of a turn are replaced by the encoding of their text; default off: token in, token out)"),
        ("rollout.answerRule", "boxed (the last \\boxed{} of the policy's text) | lastNumber (the last \\boxed{}, else the last number of the last code output and the turn after it: for small models that rarely box)"),
        ("rollout.voidTurnAnswer", "boxed (SimpleTIR: a turn with neither a complete code block nor a \\boxed{} answer is void) | answerRule (what rollout.answerRule reads counts as an answer: under lastNumber, a written number)"),
        ("rollout.executeCode", "run closed code blocks in the sandbox (false: a code block ends the trajectory)"),
        ("rollout.sampling.temperature", "sampling temperature of rollouts (1 = the policy's distribution)"),
        ("rollout.sampling.topK", "top-k truncation of rollouts (0 = off)"),
        ("rollout.sampling.topP", "nucleus truncation of rollouts (1 = off)"),
        ("reward.scheme", "torl (+1/-1) | simpletir (1/0)"),
        ("reward.executabilityPenalty", "ToRL: -0.5 when no code ran successfully"),
        ("sandbox.timeout", "wall-clock seconds per code execution"),
        ("sandbox.workers", "sandbox worker processes (0 = one per core)"),
        ("tasks.builtin", "auto (toy for the byte-level toy policy, arithmetic for a real model) | toy | arithmetic: the built-in tasks when tasks.data is empty"),
        ("tasks.difficulty", "difficulty 1...4 of the built-in tasks (operand sizes; the toy world's steps)"),
        ("tasks.data", "JSONL file of {question|problem, answer|solution} records to train on (\"\" = the toy world)"),
        ("tasks.evalData", "JSONL file to evaluate on (\"\" = the held-out part of tasks.data)"),
        ("tasks.heldOutFraction", "fraction of tasks.data held out for evaluation when tasks.evalData is empty"),
    ]

    /// The flat field names of configs before the sections (old runs' config.json and trainer_state.json,
    /// old `--set` spellings): still accepted, mapped to their dotted paths.
    public static let flatNames: [String: String] = [
        "lr": "optimizer.lr", "lrSchedule": "optimizer.schedule", "warmupSteps": "optimizer.warmupSteps",
        "weightDecay": "optimizer.weightDecay", "gradClip": "optimizer.gradClip",
        "epsLow": "loss.epsLow", "epsHigh": "loss.epsHigh", "dualClip": "loss.dualClip",
        "aggregation": "loss.aggregation", "drGRPONormalizer": "loss.drGRPONormalizer",
        "klBeta": "kl.beta", "klEstimator": "kl.estimator",
        "filterVoidTurns": "filter.voidTurns", "filterTruncated": "filter.truncated",
        "maskToolTokens": "filter.maskToolTokens",
        "maxToolCalls": "rollout.maxToolCalls", "maxTurnTokens": "rollout.maxTurnTokens",
        "maxTrajectoryTokens": "rollout.maxTrajectoryTokens", "observationCap": "rollout.observationCap",
        "temperature": "rollout.sampling.temperature", "topK": "rollout.sampling.topK", "topP": "rollout.sampling.topP",
        "reward": "reward.scheme", "executabilityPenalty": "reward.executabilityPenalty",
        "sandboxTimeout": "sandbox.timeout", "sandboxWorkers": "sandbox.workers", "difficulty": "tasks.difficulty",
    ]

    /// The flat config turned dual-clip off with 0; the section uses null.
    static func migrateFlatValue(_ path: String, _ value: Any) -> Any {
        if path == "loss.dualClip", let n = value as? NSNumber, n.doubleValue == 0 { return NSNull() }
        return value
    }
}

extension GRPOConfig {
    /// `tir demo`'s GRPO settings: single-turn TIR on the toy world, sized for the 30-minute budget.
    public static var demo: GRPOConfig {
        var c = GRPOConfig()
        c.steps = 40
        return c
    }
}

extension GRPOConfig {
    /// `tir demo --model`'s settings: a real chat model (SmolLM2-135M-Instruct on 2 cores in about 30 minutes)
    /// learns single-turn TIR on the built-in arithmetic. Rollouts at temperature 0.7; the answer is read by
    /// `AnswerRule.lastNumber` (a 135M model computes with the tool but rarely boxes); ToRL's reward with its
    /// executability penalty (-0.5 when no code ran), so writing code that runs is rewarded before answers are
    /// right; no void-turn filter (under this answer rule a final turn without \boxed{} is an answer).
    public static var realModelDemo: GRPOConfig {
        var c = GRPOConfig()
        c.steps = 16
        c.promptsPerStep = 8
        c.groupSize = 8
        c.miniBatches = 1
        c.microBatch = 64
        c.microBatchTokens = 1024
        c.checkpointEvery = 4
        c.keepCheckpoints = 1
        c.optimizer.lr = 2e-5
        c.filter.voidTurns = false
        c.reward.executabilityPenalty = true
        c.rollout.maxToolCalls = 1
        c.rollout.maxTurnTokens = 96
        c.rollout.maxTrajectoryTokens = 224
        c.rollout.answerRule = .lastNumber
        c.rollout.sampling.temperature = 0.7
        c.tasks.builtin = .arithmetic
        c.tasks.difficulty = 1
        return c
    }
}
