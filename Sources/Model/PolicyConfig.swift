import Tensor

/// Architecture of the decoder: the toy policy and the real Llama-family models (Llama, SmolLM2, Mistral,
/// Qwen2) share it. Presets `small` and `base` match ../shared/reference/torch_reference.py.
public struct PolicyConfig: Codable, Equatable, Sendable {
    /// Hugging Face `model_type`: "llama" (also Mistral and SmolLM2) or "qwen2" (q/k/v biases).
    public var architecture: String
    public var vocab: Int
    public var dim: Int
    public var layers: Int
    /// Query heads.
    public var heads: Int
    /// Key/value heads (grouped-query attention); 0 means as many as `heads`.
    public var kvHeads: Int
    /// Size of one head; 0 means dim / heads.
    public var headSize: Int
    public var ffn: Int
    /// Maximum sequence length (positions) the policy is used with.
    public var context: Int
    public var tiedHead: Bool
    /// Biases on the q, k and v projections (Qwen2).
    public var qkvBias: Bool
    public var ropeTheta: Float
    public var ropeScaling: RopeScaling?
    public var normEps: Float

    public init(architecture: String = "llama", vocab: Int = ByteTokenizer.vocabSize, dim: Int, layers: Int,
                heads: Int, kvHeads: Int = 0, headSize: Int = 0, ffn: Int, context: Int, tiedHead: Bool = true,
                qkvBias: Bool = false, ropeTheta: Float = 10000, ropeScaling: RopeScaling? = nil, normEps: Float = 1e-5) {
        self.architecture = architecture
        self.vocab = vocab; self.dim = dim; self.layers = layers; self.heads = heads; self.kvHeads = kvHeads
        self.headSize = headSize; self.ffn = ffn; self.context = context; self.tiedHead = tiedHead
        self.qkvBias = qkvBias; self.ropeTheta = ropeTheta; self.ropeScaling = ropeScaling; self.normEps = normEps
    }

    /// Configs written before grouped-query attention and real models lack the new keys.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decodeIfPresent(String.self, forKey: .architecture) ?? "llama"
        vocab = try c.decode(Int.self, forKey: .vocab)
        dim = try c.decode(Int.self, forKey: .dim)
        layers = try c.decode(Int.self, forKey: .layers)
        heads = try c.decode(Int.self, forKey: .heads)
        kvHeads = try c.decodeIfPresent(Int.self, forKey: .kvHeads) ?? 0
        headSize = try c.decodeIfPresent(Int.self, forKey: .headSize) ?? 0
        ffn = try c.decode(Int.self, forKey: .ffn)
        context = try c.decode(Int.self, forKey: .context)
        tiedHead = try c.decode(Bool.self, forKey: .tiedHead)
        qkvBias = try c.decodeIfPresent(Bool.self, forKey: .qkvBias) ?? false
        ropeTheta = try c.decode(Float.self, forKey: .ropeTheta)
        ropeScaling = try c.decodeIfPresent(RopeScaling.self, forKey: .ropeScaling)
        normEps = try c.decode(Float.self, forKey: .normEps)
    }

    public var headDim: Int { headSize > 0 ? headSize : dim / heads }
    public var kvHeadCount: Int { kvHeads > 0 ? kvHeads : heads }
    /// Width of the attention output (heads x head size), the input of o_proj.
    public var attentionDim: Int { heads * headDim }
    /// Width of the fused q|k|v projection.
    public var qkvDim: Int { (heads + 2 * kvHeadCount) * headDim }

    public static let small = PolicyConfig(dim: 256, layers: 4, heads: 4, ffn: 688, context: 256)
    public static let base = PolicyConfig(dim: 512, layers: 8, heads: 8, ffn: 1376, context: 512)

    public static func preset(_ name: String) throws -> PolicyConfig {
        switch name {
        case "small": return .small
        case "base": return .base
        default: throw TensorError("unknown policy config '\(name)': choose small or base")
        }
    }

    public func validate(_ check: FieldCheck = FieldCheck("policy")) throws {
        try check.require(["llama", "qwen2"].contains(architecture), "architecture", "llama or qwen2", got: architecture)
        try check.int("vocab", vocab, 2...(1 << 20))
        try check.int("dim", dim, 2...16384)
        try check.int("layers", layers, 1...256)
        try check.int("heads", heads, 1...dim)
        try check.int("kvHeads", kvHeads, 0...heads)
        try check.require(heads % kvHeadCount == 0, "kvHeads", "a divisor of heads \(heads)", got: kvHeads)
        try check.int("headSize", headSize, 0...1024)
        try check.require(headSize > 0 || dim % heads == 0, "heads", "a divisor of dim \(dim) (or set headSize)", got: heads)
        try check.require(headDim % 2 == 0 && headDim > 0, "headSize", "even (RoPE rotates pairs)", got: headDim)
        // heads <= dim and headSize <= 1024 alone would allow q/o projections of 2^24 x 2^14 weights.
        try check.require(attentionDim <= 65536, "heads", "at most \(65536 / headDim) with head size \(headDim) (the "
                          + "attention width heads x head size is at most 65536)", got: heads)
        try check.int("ffn", ffn, 1...65536)
        try check.int("context", context, 2...(1 << 20))
        try check.number("ropeTheta", ropeTheta, 0...1e9, openLow: true)
        if let s = ropeScaling {
            try check.require(s.factor >= 1 && s.lowFreqFactor > 0 && s.highFreqFactor > s.lowFreqFactor && s.originalContext > 0
                              && [s.factor, s.lowFreqFactor, s.highFreqFactor].allSatisfy(\.isFinite), "ropeScaling",
                              "finite, factor >= 1, 0 < lowFreqFactor < highFreqFactor, originalContext > 0", got: s)
        }
        try check.number("normEps", normEps, 0...0.1, openLow: true)
    }

    /// Parameter names and shapes in the Hugging Face convention, in arena order. q, k, v are adjacent so they
    /// form one [qkvDim, D] matrix (and their biases one [qkvDim] vector); gate and up are adjacent so they
    /// form one [2F, D] matrix.
    public var parameterLayout: [(name: String, shape: [Int])] {
        let q = heads * headDim, kv = kvHeadCount * headDim
        var l: [(String, [Int])] = [("model.embed_tokens.weight", [vocab, dim])]
        for i in 0..<layers {
            let p = "model.layers.\(i)."
            l += [(p + "input_layernorm.weight", [dim]),
                  (p + "self_attn.q_proj.weight", [q, dim]),
                  (p + "self_attn.k_proj.weight", [kv, dim]),
                  (p + "self_attn.v_proj.weight", [kv, dim])]
            if qkvBias {
                l += [(p + "self_attn.q_proj.bias", [q]), (p + "self_attn.k_proj.bias", [kv]),
                      (p + "self_attn.v_proj.bias", [kv])]
            }
            l += [(p + "self_attn.o_proj.weight", [dim, q]),
                  (p + "post_attention_layernorm.weight", [dim]),
                  (p + "mlp.gate_proj.weight", [ffn, dim]),
                  (p + "mlp.up_proj.weight", [ffn, dim]),
                  (p + "mlp.down_proj.weight", [dim, ffn])]
        }
        l.append(("model.norm.weight", [dim]))
        if !tiedHead { l.append(("lm_head.weight", [vocab, dim])) }
        return l
    }
}
