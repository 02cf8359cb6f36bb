import Tensor

/// Fused causal self-attention over the fused qkv projection, forward and backward, at a config's
/// training shape. FLOPs count the causal half of QKᵀ and PV: fwd 2·B·T²·D; bwd twice that (dQ, dK, dV, dP).
func attentionCases(_ cfg: ModelShape) -> [BenchCase] {
    let (b, t, d, h) = (cfg.batch, cfg.ctx, cfg.dim, cfg.heads)
    let shape = "qkv[\(b * t),\(3 * d)] B=\(b) T=\(t) H=\(h)"
    let fwdFlops = 2.0 * Double(b) * Double(t) * Double(t) * Double(d)
    func input(_ seed: UInt64) -> Tensor {
        var rng = RNG(seed: seed)
        return randomTensor([b * t, 3 * d], &rng, requiresGrad: true)
    }
    return [
        BenchCase(op: "attention fwd \(cfg.name)", shape: shape, work: .flops(fwdFlops)) {
            let qkv = input(6)
            return (run: { _ = try causalAttention(qkv, batch: b, seqLen: t, heads: h) }, baseline: nil)
        },
        BenchCase(op: "attention bwd \(cfg.name)", shape: shape, work: .flops(2 * fwdFlops)) {
            let qkv = input(7)
            let out = try causalAttention(qkv, batch: b, seqLen: t, heads: h)
            return (run: backwardOnly(out, seed: 8), baseline: nil)
        },
    ]
}
