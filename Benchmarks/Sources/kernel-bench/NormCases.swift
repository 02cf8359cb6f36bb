import Tensor

/// RMSNorm over the residual stream [N, D]. GB/s counts 4 bytes per float: fwd reads x, writes y (2·N·D);
/// bwd reads x and dy, read-modify-writes dx (4·N·D).
func rmsNormCases(_ cfg: ModelShape) -> [BenchCase] {
    let (n, d) = (cfg.tokens, cfg.dim)
    let shape = "x[\(n),\(d)]"
    let f = Double(n * d * 4)
    func inputs(_ seed: UInt64) throws -> (Tensor, Tensor) {
        let arena = try ParameterArena(layout: [("w", [d])])
        try arena.fill("w", value: 1)
        var rng = RNG(seed: seed)
        return (randomTensor([n, d], &rng, requiresGrad: true), try arena.tensor("w"))
    }
    return [
        BenchCase(op: "rmsNorm fwd \(cfg.name)", shape: shape, work: .bytes(2 * f)) {
            let (x, w) = try inputs(9)
            return (run: { _ = try rmsNorm(x, weight: w) }, baseline: nil)
        },
        BenchCase(op: "rmsNorm bwd \(cfg.name)", shape: shape, work: .bytes(4 * f)) {
            let (x, w) = try inputs(10)
            return (run: backwardOnly(try rmsNorm(x, weight: w), seed: 11), baseline: nil)
        },
    ]
}
