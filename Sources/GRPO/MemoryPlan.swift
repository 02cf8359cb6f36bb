import Foundation
import Model
import Tensor

/// What a GRPO run holds in memory at its peak, estimated before it starts from the model's shape and the
/// config. Rollout and update take turns, so the peak is the fixed part plus the larger of the two:
///
///     fixed        16 B per parameter (weights, gradient, AdamW m and v), + 4 B per parameter for the KL
///                  reference (kl.beta > 0)
///     rollout      the KV cache: slots x maxLen x layers x 2 (K, V) x kvHeads x headDim x 4 B, and the
///                  sampler's weights when they are not the policy's (`WeightFormat.sessionBytes`): 2 B per
///                  parameter in bf16, 4 in fp16, 1.25 in q8, 4 in fp32 where it decodes from panels
///     update       one micro-batch's activations: `activationBytesPerToken` x padded tokens
///
/// The activation figure counts, per layer and token, what the forward keeps for backward (residual, norms,
/// q/k/v and rotated q/k, attention output and its probabilities over the sequence, the MLP's gate, up and
/// product) and doubles it for the gradients backward holds while it passes the layer; it was checked against
/// the peak RSS of SmolLM2-135M runs (docs/PERFORMANCE.md).
public struct MemoryPlan: Equatable, Sendable {
    public var parameters: Int
    public var fixedBytes: Int
    public var rolloutBytes: Int
    public var activationBytesPerToken: Int
    public var microBatchTokens: Int

    public var updateBytes: Int { activationBytesPerToken * microBatchTokens }
    public var peakBytes: Int { fixedBytes + max(rolloutBytes, updateBytes) }

    /// The plan of `config` on a model of shape `model` whose sequences are at most `sequenceLength` tokens
    /// (prompt + new tokens). `microBatchTokens` 0 (no cap) counts `microBatch` sequences of that length.
    public init(model c: PolicyConfig, config: GRPOConfig, sequenceLength: Int, ranks: Int = 1) {
        let p = c.parameterLayout.reduce(0) { $0 + $1.shape.reduce(1, *) }
        parameters = p
        fixedBytes = 16 * p + (config.kl.beta > 0 ? 4 * p : 0)
        let slots = (config.promptsPerStep * config.groupSize + ranks - 1) / ranks
        let samplerBytes = config.rolloutWeights.sessionBytes(parameters: p, slots: slots)
        rolloutBytes = slots * sequenceLength * c.layers * 2 * c.kvHeadCount * c.headDim * 4 + samplerBytes
        let perLayer = 7 * c.dim + 3 * c.ffn + 2 * c.qkvDim + c.heads * sequenceLength
        activationBytesPerToken = 2 * 4 * c.layers * perLayer + 4 * c.dim
        microBatchTokens = config.microBatchTokens > 0 ? config.microBatchTokens : config.microBatch * sequenceLength
    }

    /// The plan a run of `config` on a model of shape `model` follows: sequences of the episode limit after a
    /// prompt of up to 128 tokens; with `memoryBudgetGB`, the micro-batch token cap that keeps the peak within
    /// it (at least one sequence).
    public static func of(_ config: GRPOConfig, model: PolicyConfig, ranks: Int = 1) -> MemoryPlan {
        let length = min(model.context, 128 + config.rollout.maxTrajectoryTokens)
        var plan = MemoryPlan(model: model, config: config, sequenceLength: length, ranks: ranks)
        if config.memoryBudgetGB > 0 {
            let budget = Int(config.memoryBudgetGB * 1e9)
            plan.microBatchTokens = max(length, (budget - plan.fixedBytes) / max(1, plan.activationBytesPerToken))
        }
        return plan
    }

    /// "2.9 GB (fixed 2.2: weights, gradient, optimizer; rollout 0.9: KV cache and sampler weights; update 0.7 at
    /// 1024 tokens per micro-batch)"
    public var summary: String {
        func gb(_ b: Int) -> String { String(format: "%.1f", Double(b) / 1e9) }
        return "\(gb(peakBytes)) GB (fixed \(gb(fixedBytes)): weights, gradient, optimizer; rollout \(gb(rolloutBytes)): KV cache and sampler weights; "
            + "update \(gb(updateBytes)) at \(microBatchTokens) tokens per micro-batch)"
    }

    /// Throws, naming the figure and the knobs, when the peak exceeds `available` bytes.
    public func check(available: Int) throws {
        guard peakBytes > available else { return }
        throw ConfigError("this run needs about \(summary), more than the \(String(format: "%.1f", Double(available) / 1e9)) GB "
                          + "this machine has. Lower microBatchTokens (activations), promptsPerStep x groupSize or "
                          + "rollout.maxTrajectoryTokens (KV cache), or set memoryBudgetGB to size micro-batches for you.")
    }
}
