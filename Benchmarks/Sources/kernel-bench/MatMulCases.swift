import CBLAS
import Tensor

/// `linear` forward (and backward) at every linear layer shape of a config, each next to raw cblas_sgemm
/// doing exactly the same products. Training rows: N = batch * ctx; decode rows: N = batch (one new token
/// per sequence), forward only.
func linearCases(_ cfg: ModelShape, decode: Bool = false) -> [BenchCase] {
    var cases: [BenchCase] = []
    let n = decode ? cfg.batch : cfg.tokens
    let tag = decode ? "decode \(cfg.name)" : cfg.name
    for (name, inF, outF) in cfg.linears {
        let shape = "x[\(n),\(inF)] W[\(outF),\(inF)]"
        let flops = 2.0 * Double(n) * Double(inF) * Double(outF)

        // forward: y[N,out] = x[N,in] W[out,in]ᵀ, W a parameter view as in the model
        cases.append(BenchCase(op: "linear fwd \(tag) \(name)", shape: shape, work: .flops(flops)) {
            let arena = try ParameterArena(layout: [("w", [outF, inF])])
            var rng = RNG(seed: 1)
            try arena.fillNormal("w", std: 0.02, rng: &rng)
            let w = try arena.tensor("w")
            let x = randomTensor([n, inF], &rng)
            let c = Tensor(zeros: [n, outF])
            return (run: { _ = try linear(x, w) },
                    baseline: {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(outF), Int32(inF),
                                    1, x.data, Int32(inF), w.data, Int32(inF), 0, c.data, Int32(outF))
                    })
        })

        if decode { continue }
        // backward: dX[N,in] += dY W and dW[out,in] += dYᵀ X, run by the tape on a fixed graph
        cases.append(BenchCase(op: "linear bwd \(cfg.name) \(name)", shape: shape, work: .flops(2 * flops)) {
            let arena = try ParameterArena(layout: [("w", [outF, inF])])
            var rng = RNG(seed: 2)
            try arena.fillNormal("w", std: 0.02, rng: &rng)
            let w = try arena.tensor("w")
            let x = randomTensor([n, inF], &rng, requiresGrad: true)
            let y = try linear(x, w)
            let dy = y.ensureGrad()
            for i in 0..<y.count { dy[i] = rng.normal() * 1e-3 }
            // a scalar "loss" whose backward leaves dY as it is, so loss.backward() runs exactly linear's backward
            let loss = Tensor.record(Tensor(zeros: [1]), inputs: [y]) { _ in }
            let dx = Tensor(zeros: [n, inF]), dw = Tensor(zeros: [outF, inF])
            return (run: { try loss.backward() },
                    baseline: {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(inF), Int32(outF),
                                    1, dy, Int32(outF), w.data, Int32(inF), 1, dx.data, Int32(inF))
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outF), Int32(inF), Int32(n),
                                    1, dy, Int32(outF), x.data, Int32(inF), 1, dw.data, Int32(inF))
                    })
        })
    }
    return cases
}

/// Test data: N(0,1) values.
func randomTensor(_ shape: [Int], _ rng: inout RNG, requiresGrad: Bool = false) -> Tensor {
    let t = Tensor(zeros: shape, requiresGrad: requiresGrad)
    for i in 0..<t.count { t.data[i] = rng.normal() }
    return t
}
