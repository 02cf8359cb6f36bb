/// Model shapes of /work/shared/reference/torch_reference.py (CONFIGS). N = batch * ctx tokens per step.
struct ModelShape {
    let name: String
    let vocab: Int, dim: Int, ffn: Int, ctx: Int, batch: Int
    var tokens: Int { batch * ctx }

    static let small = ModelShape(name: "small", vocab: 260, dim: 256, ffn: 688, ctx: 256, batch: 16)
    static let base = ModelShape(name: "base", vocab: 260, dim: 512, ffn: 1376, ctx: 512, batch: 8)

    /// The linear layers of one block plus the tied head: (name, in, out) for y[N,out] = x[N,in] W[out,in]ᵀ.
    var linears: [(name: String, inF: Int, outF: Int)] {
        [("qkv", dim, 3 * dim), ("o", dim, dim), ("gate/up", dim, ffn), ("down", ffn, dim), ("head", dim, vocab)]
    }
}
