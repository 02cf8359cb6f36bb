import Foundation
import Tensor

/// The decoder-only policy: embedding, N blocks of (RMSNorm -> causal grouped-query attention with RoPE ->
/// residual, RMSNorm -> SwiGLU MLP -> residual), final RMSNorm, tied or untied head. All parameters live in
/// one arena. `forward` (ForwardPass.swift) is the block order, written once; `hidden` runs it as the training
/// forward (taped) and `DecodeSession` with a KV cache, both through the same `Layer` views.
public final class Policy {
    public let config: PolicyConfig
    public let arena: ParameterArena

    typealias Layer = LayerWeights<Tensor>
    let embed: Tensor            // [V, D]
    let layers: [Layer]
    let finalNorm: Tensor        // [D]
    let head: Tensor             // [V, D], the embedding when tied
    /// The output head's weights [V, D] (the embedding when tied): with `hidden`, what `tokenLogProbs` runs.
    public var outputHead: Tensor { head }

    /// A policy with zeroed parameters; call `initialize(seed:)` or load a checkpoint.
    public init(config: PolicyConfig) throws {
        try config.validate()
        self.config = config
        let arena = try ParameterArena(layout: config.parameterLayout)
        self.arena = arena
        embed = try arena.tensor("model.embed_tokens.weight")
        layers = try (0..<config.layers).map { i in
            let p = "model.layers.\(i)."
            let q = try arena.entry(p + "self_attn.q_proj.weight")
            let qb = config.qkvBias ? try arena.entry(p + "self_attn.q_proj.bias") : nil
            let gate = try arena.entry(p + "mlp.gate_proj.weight"), up = try arena.entry(p + "mlp.up_proj.weight")
            guard up.offset == gate.offset + gate.count else {
                throw TensorError("Policy: layer \(i) gate_proj and up_proj are not adjacent in the arena")
            }
            return Layer(inputNorm: try arena.tensor(p + "input_layernorm.weight"),
                         qkv: try arena.view(offset: q.offset, shape: [config.qkvDim, config.dim]),
                         qkvBias: try qb.map { try arena.view(offset: $0.offset, shape: [config.qkvDim]) },
                         o: try arena.tensor(p + "self_attn.o_proj.weight"),
                         postNorm: try arena.tensor(p + "post_attention_layernorm.weight"),
                         gateUp: try arena.view(offset: gate.offset, shape: [2 * config.ffn, config.dim]),
                         down: try arena.tensor(p + "mlp.down_proj.weight"))
        }
        finalNorm = try arena.tensor("model.norm.weight")
        head = config.tiedHead ? embed : try arena.tensor("lm_head.weight")
    }

    /// GPT-2 style init: N(0, 0.02), residual output projections scaled by 1/sqrt(2 * layers), norms at 1.
    public convenience init(config: PolicyConfig, seed: UInt64) throws {
        try self.init(config: config)
        var rng = RNG(seed: seed)
        let residualStd = 0.02 / Float(2 * config.layers).squareRoot()
        for e in arena.entries {
            if e.name.hasSuffix(".bias") {
                continue                                    // zero
            } else if e.shape.count == 1 {
                try arena.fill(e.name, value: 1)
            } else if e.name.hasSuffix("o_proj.weight") || e.name.hasSuffix("down_proj.weight") {
                try arena.fillNormal(e.name, std: residualStd, rng: &rng)
            } else {
                try arena.fillNormal(e.name, std: 0.02, rng: &rng)
            }
        }
    }

    public var parameterCount: Int { arena.count }

    /// A copy of the weights, rounded to `format`.
    public func copy(rounded format: NumberFormat = .fp32) throws -> Policy {
        let q = try Policy(config: config)
        q.arena.data.update(from: arena.data, count: arena.count)
        format.round(q.arena.data, count: q.arena.count)
        return q
    }

    /// Training forward over a right-padded batch. tokens: B*T ids (row b*T + t) -> logits [B*T, V].
    /// Causal attention means real tokens never see the padding after them.
    public func logits(tokens: [Int32], batch: Int, seqLen: Int) throws -> Tensor {
        try linear(try hidden(tokens: tokens, batch: batch, seqLen: seqLen), head)                  // [N, V]
    }

    /// The training forward up to the head: the final-normed hidden states [B*T, D].
    public func hidden(tokens: [Int32], batch: Int, seqLen: Int) throws -> Tensor {
        guard tokens.count == batch * seqLen, batch > 0, seqLen > 0 else {
            throw TensorError("Policy.logits: \(tokens.count) tokens do not form a [\(batch), \(seqLen)] batch")
        }
        return try hidden(tokens: tokens, layout: AttentionLayout(batch: batch, seqLen: seqLen))
    }

    /// The training forward up to the head over the rows of `layout` (packed sequences, shared prefixes): the
    /// final-normed hidden states [N, D].
    public func hidden(tokens: [Int32], layout: AttentionLayout) throws -> Tensor {
        try layout.validate(rows: tokens.count)
        guard !tokens.isEmpty else { throw TensorError("Policy.logits: no tokens") }
        guard layout.longestSequence <= config.context else {
            throw TensorError("Policy.logits: sequence length \(layout.longestSequence) exceeds the context \(config.context)")
        }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= config.vocab }) {
            throw TensorError("Policy.logits: token id \(bad) outside the vocabulary 0..<\(config.vocab)")
        }
        var pass = TrainingPass(policy: self, tokens: tokens, layout: layout, positions: layout.positions)
        return try forward(&pass)
    }

    /// Log-probabilities of `targets` at each position under logits / temperature (0 counts as 1), through
    /// the fused, chunked head: no [B*T, V] logits. -> [B*T]
    /// `eachChunk` sees the logits / temperature chunk by chunk (see `headLogProbs`).
    public func tokenLogProbs(tokens: [Int32], targets: [Int32], batch: Int, seqLen: Int, temperature: Float = 1,
                              eachChunk: ((_ logits: UnsafePointer<Float>, _ rows: Range<Int>) throws -> Void)? = nil) throws -> Tensor {
        try headLogProbs(try hidden(tokens: tokens, batch: batch, seqLen: seqLen), head, targets: targets,
                         temperature: temperature, eachChunk: eachChunk)
    }

    /// `tokenLogProbs` over the rows of `layout`. -> [N]
    public func tokenLogProbs(tokens: [Int32], targets: [Int32], layout: AttentionLayout, temperature: Float = 1,
                              eachChunk: ((_ logits: UnsafePointer<Float>, _ rows: Range<Int>) throws -> Void)? = nil) throws -> Tensor {
        try headLogProbs(try hidden(tokens: tokens, layout: layout), head, targets: targets,
                         temperature: temperature, eachChunk: eachChunk)
    }
}
