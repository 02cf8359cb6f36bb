import Tensor

/// One optimizer step's worth of arena-wide loops at a config's full parameter count.
func optimizerCases(_ cfg: ModelShape) -> [BenchCase] {
    let count = cfg.parameterLayout.reduce(0) { $0 + $1.shape.reduce(1, *) }
    let shape = "\(cfg.name): \(count) params"
    let f = Double(count) * 4
    func arena() throws -> ParameterArena {
        let a = try ParameterArena(layout: cfg.parameterLayout)
        var rng = RNG(seed: 5)
        for i in 0..<a.count { a.data[i] = rng.normal() * 0.02; a.grad[i] = rng.normal() * 1e-3 }
        return a
    }
    let note = "arena GB/s counts 4 bytes per float read or written: AdamW 7 (p,g,m,v in; p,m,v out), gradNorm 1, zeroGrad 1"
    return [
        BenchCase(op: "AdamW update", shape: shape, work: .bytes(7 * f), note: note) {
            let a = try arena()
            let opt = AdamW(arena: a, lr: 1e-4, weightDecay: 0.1)
            return (run: { opt.update() }, baseline: nil)
        },
        BenchCase(op: "gradNorm", shape: shape, work: .bytes(f), note: note) {
            let a = try arena()
            return (run: { _ = a.gradNorm() }, baseline: nil)
        },
        BenchCase(op: "zeroGrad", shape: shape, work: .bytes(f), note: note) {
            let a = try arena()
            return (run: { a.zeroGrad() }, baseline: nil)
        },
    ]
}
