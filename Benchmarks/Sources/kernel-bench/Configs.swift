/// Model shapes of /work/shared/reference/torch_reference.py (CONFIGS). N = batch * ctx tokens per step.
struct ModelShape {
    let name: String
    let vocab: Int, dim: Int, layers: Int, heads: Int, ffn: Int, ctx: Int, batch: Int
    var tokens: Int { batch * ctx }

    static let small = ModelShape(name: "small", vocab: 260, dim: 256, layers: 4, heads: 4, ffn: 688, ctx: 256, batch: 16)
    static let base = ModelShape(name: "base", vocab: 260, dim: 512, layers: 8, heads: 8, ffn: 1376, ctx: 512, batch: 8)

    /// The linear layers of one block plus the tied head: (name, in, out) for y[N,out] = x[N,in] W[out,in]ᵀ.
    var linears: [(name: String, inF: Int, outF: Int)] {
        [("qkv", dim, 3 * dim), ("o", dim, dim), ("gate/up", dim, ffn), ("down", ffn, dim), ("head", dim, vocab)]
    }
}

extension ModelShape {
    /// The parameter layout of the reference model (tied head: the embedding doubles as the output layer).
    var parameterLayout: [(name: String, shape: [Int])] {
        var layout: [(name: String, shape: [Int])] = [("emb", [vocab, dim])]
        for l in 0..<layers {
            layout += [("l\(l).n1", [dim]), ("l\(l).qkv", [3 * dim, dim]), ("l\(l).o", [dim, dim]),
                       ("l\(l).n2", [dim]), ("l\(l).gate", [ffn, dim]), ("l\(l).up", [ffn, dim]), ("l\(l).down", [dim, ffn])]
        }
        return layout + [("norm", [dim])]
    }
}
