import Foundation
import Rollout
import Tensor
import Training

/// Every knob of a GRPO run. Loaded from a JSON file (unknown keys are an error) and overridable from the
/// command line with `--set key=value`. `GRPOConfig.documentation` describes every field.
public struct GRPOConfig: Codable, Equatable, Sendable {
    public var seed: UInt64 = 1
    public var steps: Int = 40
    public var promptsPerStep: Int = 16
    public var groupSize: Int = 8
    public var miniBatches: Int = 2
    public var microBatch: Int = 16
    public var skipZeroAdvantage: Bool = true
    public var lr: Float = 2e-4
    public var lrSchedule: LRSchedule = .constant
    public var warmupSteps: Int = 0
    public var weightDecay: Float = 0
    public var gradClip: Float = 1
    public var advantage: AdvantageEstimator = .grpo
    public var epsLow: Float = 0.2
    public var epsHigh: Float = 0.28
    public var dualClip: Float = 3
    public var aggregation: LossAggregation = .tokenMean
    public var drGRPONormalizer: Float = 256
    public var klBeta: Float = 0
    public var klEstimator: KLEstimator = .k3
    public var filterVoidTurns: Bool = true
    public var filterTruncated: Bool = false
    public var maskToolTokens: Bool = true
    public var dynamicSampling: Bool = false
    public var maxResampleRounds: Int = 2
    public var temperature: Float = 1
    public var topK: Int = 0
    public var topP: Float = 1
    public var maxToolCalls: Int = 2
    public var maxTurnTokens: Int = 128
    public var maxTrajectoryTokens: Int = 320
    public var observationCap: Int = 256
    public var reward: String = "torl"
    public var executabilityPenalty: Bool = false
    public var difficulty: Int = 2
    public var checkpointEvery: Int = 10
    public var sandboxTimeout: Double = 3
    public var sandboxWorkers: Int = 0
    // Instability levers (docs/INSTABILITY.md): every default leaves training as it was.
    public var ppoEpochs: Int = 1
    public var recomputeOldLogProbs: Bool = false
    public var importanceCorrection: ImportanceCorrection = .none
    public var tisCap: Float = 2
    public var misLow: Float = 0.5
    public var misHigh: Float = 2
    public var rolloutWeights: NumberFormat = .fp32
    public var rolloutKVCache: NumberFormat = .fp32
    public var observationStyle: ObservationStyle = .torl

    public init() {}

    public static let documentation: [(key: String, doc: String)] = [
        ("seed", "fixes tasks, sampling and initialization"),
        ("steps", "GRPO steps (one rollout batch each)"),
        ("promptsPerStep", "B: prompts per rollout batch"),
        ("groupSize", "G: samples per prompt (the GRPO group)"),
        ("miniBatches", "M: optimizer updates per rollout batch (the batch is split into M mini-batches)"),
        ("microBatch", "sequences per forward/backward (gradient accumulation inside a mini-batch)"),
        ("skipZeroAdvantage", "skip forward/backward of trajectories that carry no gradient (advantage 0 or fully masked, no KL): same update, less work"),
        ("lr", "peak learning rate of AdamW"),
        ("lrSchedule", "constant | cosine (linear warmup, then cosine to 10% of peak)"),
        ("warmupSteps", "optimizer updates of linear warmup"),
        ("weightDecay", "AdamW decoupled weight decay on matrices"),
        ("gradClip", "clip-by-global-norm threshold; the logged grad_norm is before clipping"),
        ("advantage", "grpo ((R-mean)/(std+eps), unbiased std) | drGRPO (R-mean) | rloo (leave-one-out)"),
        ("epsLow", "lower clip range of the ratio (1 - epsLow)"),
        ("epsHigh", "upper clip range of the ratio (1 + epsHigh, clip-higher)"),
        ("dualClip", "dual-clip constant c for negative advantages (0 = off)"),
        ("aggregation", "tokenMean | seqMeanTokenMean | seqMeanTokenSum | drGRPO"),
        ("drGRPONormalizer", "the constant divisor of the drGRPO aggregation"),
        ("klBeta", "weight of the KL penalty to the frozen initial policy (0 = off, as in ToRL)"),
        ("klEstimator", "k1 | k2 | k3"),
        ("filterVoidTurns", "SimpleTIR: trajectories with a void turn get loss mask 0"),
        ("filterTruncated", "trajectories that hit a token limit get loss mask 0"),
        ("maskToolTokens", "tool-output tokens carry no gradient (false only for the ablation experiment)"),
        ("dynamicSampling", "DAPO: resample prompts until the batch has B groups with reward signal"),
        ("maxResampleRounds", "extra rollout rounds allowed by dynamic sampling per step"),
        ("temperature", "sampling temperature of rollouts (1 = the policy's distribution)"),
        ("topK", "top-k truncation of rollouts (0 = off)"),
        ("topP", "nucleus truncation of rollouts (1 = off)"),
        ("maxToolCalls", "ToRL's C: executed code blocks per trajectory (1 = single-turn)"),
        ("maxTurnTokens", "new policy tokens per turn; a cut turn is void"),
        ("maxTrajectoryTokens", "new tokens per trajectory (policy + tool)"),
        ("observationCap", "bytes of tool output inserted (head + marker + tail)"),
        ("reward", "torl (+1/-1) | simpletir (1/0)"),
        ("executabilityPenalty", "ToRL: -0.5 when no code ran successfully"),
        ("difficulty", "toy-world difficulty knob (operand sizes, steps)"),
        ("checkpointEvery", "save a resumable checkpoint every K steps (0 = only at the end)"),
        ("sandboxTimeout", "wall-clock seconds per code execution"),
        ("sandboxWorkers", "sandbox worker processes (0 = one per core)"),
        ("ppoEpochs", "passes over each rollout batch (each of M mini-batches); updates per step = miniBatches x ppoEpochs, all but the first off-policy"),
        ("recomputeOldLogProbs", "old log-probs from one no-grad trainer forward before the first update (verl), instead of the sampler's behaviour log-probs"),
        ("importanceCorrection", "none | tis (loss x min(rho, tisCap)) | mis (loss x rho, 0 outside [misLow, misHigh]); rho = exp(old - behaviour), needs recomputeOldLogProbs"),
        ("tisCap", "truncation cap of tis (2)"),
        ("misLow", "lower bound of the rho band mis keeps (0.5)"),
        ("misHigh", "upper bound of the rho band mis keeps (2)"),
        ("rolloutWeights", "fp32 | bf16 | fp16: the rollout samples from a copy of the policy rounded to this format (training stays fp32)"),
        ("rolloutKVCache", "fp32 | bf16 | fp16: the rollout's KV cache rounds keys and values to this format"),
        ("observationStyle", "torl (tool output capped at observationCap) | simpletir ('Code execution result: ...', first and last 256 characters)"),
    ]

    /// Decodes a config from JSON, rejecting unknown keys with the list of valid ones.
    public static func load(json data: Data, overrides: [String] = []) throws -> GRPOConfig {
        guard var dict = try JSONSerialization.jsonObject(with: data.isEmpty ? Data("{}".utf8) : data) as? [String: Any] else {
            throw ConfigError("the config must be a JSON object")
        }
        for o in overrides {
            guard let eq = o.firstIndex(of: "=") else { throw ConfigError("override '\(o)' is not key=value") }
            let key = String(o[..<eq]), raw = String(o[o.index(after: eq)...])
            dict[key] = (try? JSONSerialization.jsonObject(with: Data(raw.utf8), options: .fragmentsAllowed)) ?? raw
        }
        let known = Set(documentation.map(\.key))
        if let bad = dict.keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigError("unknown config field '\(bad)'; valid fields: \(documentation.map(\.key).joined(separator: ", "))")
        }
        // Start from the defaults so a file may name only what it changes.
        var merged = try JSONSerialization.jsonObject(with: JSONEncoder().encode(GRPOConfig())) as! [String: Any]
        merged.merge(dict) { _, new in new }
        let config: GRPOConfig
        do {
            config = try JSONDecoder().decode(GRPOConfig.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.dataCorrupted(ctx) {
            throw ConfigError("config field '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))': \(ctx.debugDescription)")
        }
        try config.validate()
        return config
    }

    public func validate() throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw ConfigError(msg) } }
        try need(steps >= 0, "steps must be >= 0")
        try need(promptsPerStep > 0, "promptsPerStep must be > 0")
        try need(groupSize >= 2, "groupSize must be >= 2 (GRPO compares samples within a group)")
        try need(miniBatches >= 1 && miniBatches <= promptsPerStep * groupSize, "miniBatches must be in 1...B*G")
        try need(microBatch >= 1, "microBatch must be >= 1")
        try need(lr > 0 && lr.isFinite, "lr must be a positive number")
        try need(gradClip > 0, "gradClip must be > 0")
        try need(epsLow >= 0 && epsLow < 1 && epsHigh >= 0, "epsLow must be in [0,1) and epsHigh >= 0")
        try need(dualClip == 0 || dualClip > 1, "dualClip must be 0 (off) or > 1")
        try need(klBeta >= 0, "klBeta must be >= 0")
        try need(["torl", "simpletir"].contains(reward), "reward must be torl or simpletir")
        try need(maxToolCalls >= 0 && maxTurnTokens > 0 && maxTrajectoryTokens > 0, "token and tool limits must be positive")
        try need(sandboxTimeout > 0, "sandboxTimeout must be > 0")
        try need(difficulty >= 0, "difficulty must be >= 0")
        try validateLevers()
    }

    func validateLevers() throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw ConfigError(msg) } }
        try need(ppoEpochs >= 1, "ppoEpochs must be >= 1")
        try need(importanceCorrection == .none || recomputeOldLogProbs,
                 "importanceCorrection \(importanceCorrection.rawValue) compares the trainer's old log-probs with the sampler's: set recomputeOldLogProbs=true")
        try need(tisCap.isFinite && tisCap >= 1, "tisCap must be >= 1")
        try need(misLow.isFinite && misHigh.isFinite && misLow > 0 && misLow <= 1 && misHigh >= 1,
                 "misLow must be in (0, 1] and misHigh >= 1")
    }

    public var json: String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try! enc.encode(self), as: UTF8.self)
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
