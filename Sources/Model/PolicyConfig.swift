import Tensor

/// Architecture of the Llama-style policy. Presets `small` and `base` match ../shared/reference/torch_reference.py.
public struct PolicyConfig: Codable, Equatable, Sendable {
    public var vocab: Int
    public var dim: Int
    public var layers: Int
    public var heads: Int
    public var ffn: Int
    /// Maximum sequence length (positions) the policy is used with.
    public var context: Int
    public var tiedHead: Bool
    public var ropeTheta: Float
    public var normEps: Float

    public init(vocab: Int = ByteTokenizer.vocabSize, dim: Int, layers: Int, heads: Int, ffn: Int, context: Int,
                tiedHead: Bool = true, ropeTheta: Float = 10000, normEps: Float = 1e-5) {
        self.vocab = vocab; self.dim = dim; self.layers = layers; self.heads = heads; self.ffn = ffn
        self.context = context; self.tiedHead = tiedHead; self.ropeTheta = ropeTheta; self.normEps = normEps
    }

    public var headDim: Int { dim / heads }

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
        try check.int("vocab", vocab, ByteTokenizer.vocabSize...(1 << 20))
        try check.int("dim", dim, 2...16384)
        try check.int("layers", layers, 1...256)
        try check.int("heads", heads, 1...dim)
        try check.require(dim % heads == 0 && headDim % 2 == 0, "heads", "a divisor of dim \(dim) that leaves an even head size", got: heads)
        try check.int("ffn", ffn, 1...65536)
        try check.int("context", context, 2...65536)
        try check.number("ropeTheta", ropeTheta, 0...1e9, openLow: true)
        try check.number("normEps", normEps, 0...0.1, openLow: true)
    }

    /// Parameter names and shapes in the Hugging Face Llama convention, in arena order. q, k, v are adjacent so
    /// they form one [3D, D] matrix; gate and up are adjacent so they form one [2F, D] matrix.
    public var parameterLayout: [(name: String, shape: [Int])] {
        var l: [(String, [Int])] = [("model.embed_tokens.weight", [vocab, dim])]
        for i in 0..<layers {
            let p = "model.layers.\(i)."
            l += [(p + "input_layernorm.weight", [dim]),
                  (p + "self_attn.q_proj.weight", [dim, dim]),
                  (p + "self_attn.k_proj.weight", [dim, dim]),
                  (p + "self_attn.v_proj.weight", [dim, dim]),
                  (p + "self_attn.o_proj.weight", [dim, dim]),
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
