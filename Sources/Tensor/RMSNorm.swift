import Foundation

extension Kernels {
    /// One row: y = x * rstd * w with rstd = 1/sqrt(mean(x^2) + eps); returns rstd.
    @inline(__always)
    static func rmsNormRow(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           _ d: Int, _ eps: Float) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var j = 0
        while j + 8 <= d {
            let v = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
            acc.addProduct(v, v)
            j += 8
        }
        var ss = acc.sum()
        while j < d { ss += x[j] * x[j]; j += 1 }
        let r = 1 / (ss / Float(d) + eps).squareRoot()
        for j in 0..<d { y[j] = x[j] * r * w[j] }
        return r
    }

    /// RMSNorm over rows. x: [rows,dim], weight: [dim] -> out: [rows,dim] (out may alias x);
    /// rstd (optional, [rows]) keeps 1/sqrt(mean(x^2)+eps) per row for backward.
    public static func rmsNorm(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float,
                               out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>?) {
        parallelFor(rows, minChunk: 32) { r in
            for i in r {
                let s = rmsNormRow(x + i * dim, weight, out + i * dim, dim, eps)
                rstd?[i] = s
            }
        }
    }

    /// Residual add + RMSNorm in one pass: sum = x + residual, out = rmsNorm(sum).
    /// x, residual: [rows,dim], weight: [dim] -> sum, out: [rows,dim]. sum may alias x or residual
    /// (decoding updates the residual stream in place); rstd as in `rmsNorm`.
    public static func addRMSNorm(x: UnsafePointer<Float>, residual: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                  rows: Int, dim: Int, eps: Float, sum: UnsafeMutablePointer<Float>,
                                  out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>?) {
        parallelFor(rows, minChunk: 32) { r in
            for i in r {
                let o = i * dim
                for j in 0..<dim { sum[o + j] = x[o + j] + residual[o + j] }
                let s = rmsNormRow(sum + o, weight, out + o, dim, eps)
                rstd?[i] = s
            }
        }
    }

    /// RMSNorm backward. With gw = g * w per element:
    /// dx = beta * dx + rstd * gw - x * rstd^3 * mean(gw * x) (beta 0 or 1: store or accumulate);
    /// dw += sum over rows of g * x * rstd.
    static func rmsNormBackward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                g: UnsafePointer<Float>, dx: (grad: UnsafeMutablePointer<Float>, beta: Float)?,
                                dw: UnsafeMutablePointer<Float>?, rows: Int, dim: Int) {
        if let (dx, beta) = dx {
            parallelFor(rows, minChunk: 32) { r in
                for i in r {
                    let xi = x + i * dim, gi = g + i * dim, di = dx + i * dim, s = rstd[i]
                    var dot: Float = 0
                    for j in 0..<dim { dot += gi[j] * weight[j] * xi[j] }
                    let c = s * s * s * dot / Float(dim)
                    if beta == 0 {
                        for j in 0..<dim { di[j] = s * weight[j] * gi[j] - c * xi[j] }
                    } else {
                        for j in 0..<dim { di[j] += s * weight[j] * gi[j] - c * xi[j] }
                    }
                }
            }
        }
        if let dw {
            // Split columns, not rows, so threads never write the same dw element.
            parallelFor(dim, minChunk: 64) { cols in
                for i in 0..<rows {
                    let xi = x + i * dim, gi = g + i * dim, s = rstd[i]
                    for j in cols { dw[j] += gi[j] * xi[j] * s }
                }
            }
        }
    }
}

private func checkNorm(_ op: String, _ x: Tensor, _ weight: Tensor) throws {
    try check(x.rank == 2 && weight.rank == 1 && weight.shape[0] == x.shape[1],
              "\(op) needs x [N,D] and weight [D], got \(x.shape) and \(weight.shape)")
}

/// RMSNorm: y = x / sqrt(mean(x^2) + eps) * w per row. x: [N,D], weight: [D] -> [N,D]
public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float = 1e-5) throws -> Tensor {
    try checkNorm("rmsNorm", x, weight)
    let n = x.shape[0], d = x.shape[1]
    let out = Tensor(uninitialized: [n, d]), rstd = Tensor(uninitialized: [n])
    Kernels.rmsNorm(x: x.data, weight: weight.data, rows: n, dim: d, eps: eps, out: out.data, rstd: rstd.data)
    return Tensor.record(out, inputs: [x, weight]) { out in
        Kernels.rmsNormBackward(x: x.data, weight: weight.data, rstd: rstd.data, g: out.grad!,
                                dx: x.requiresGrad ? x.gradForFullWrite() : nil,
                                dw: weight.requiresGrad ? weight.ensureGrad() : nil, rows: n, dim: d)
    }
}

/// Fused residual add + RMSNorm: sum = x + residual, normed = rmsNorm(sum, weight).
/// x, residual: [N,D], weight: [D] -> (sum [N,D], normed [N,D]).
/// Gradients may arrive at both outputs: `normed` backpropagates into `sum`'s gradient, and `sum`
/// (a parent of `normed`, so it runs later on the tape) passes its total gradient to x and residual.
public func addRMSNorm(_ x: Tensor, _ residual: Tensor, weight: Tensor, eps: Float = 1e-5) throws
    -> (sum: Tensor, normed: Tensor) {
    try check(x.shape == residual.shape, "addRMSNorm needs equal shapes for x and residual, got \(x.shape) and \(residual.shape)")
    try checkNorm("addRMSNorm", x, weight)
    let n = x.shape[0], d = x.shape[1]
    let sum = Tensor(uninitialized: [n, d]), normed = Tensor(uninitialized: [n, d]), rstd = Tensor(uninitialized: [n])
    Kernels.addRMSNorm(x: x.data, residual: residual.data, weight: weight.data, rows: n, dim: d, eps: eps,
                       sum: sum.data, out: normed.data, rstd: rstd.data)
    Tensor.record(sum, inputs: [x, residual]) { sum in
        let g = sum.grad!
        for t in [x, residual] where t.requiresGrad { passGradient(g, to: t, count: n * d) }
    }
    Tensor.record(normed, inputs: [sum, weight]) { normed in
        Kernels.rmsNormBackward(x: sum.data, weight: weight.data, rstd: rstd.data, g: normed.grad!,
                                dx: sum.requiresGrad ? sum.gradForFullWrite() : nil,
                                dw: weight.requiresGrad ? weight.ensureGrad() : nil, rows: n, dim: d)
    }
    return (sum, normed)
}
