import Foundation

extension Kernels {
    /// log-sum-exp of one row, max-shifted.
    @inline(__always)
    static func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        let m = rowMax(x, n)
        if !m.isFinite { return m }   // all -inf (or an inf/nan): nothing sensible to shift by
        return m + logf(expSum(x, n, shift: m))
    }

    /// The gradient of every loss built from per-row log-softmax at a target: for each row i with scale c_i,
    /// dx[i,j] = beta * dx[i,j] + c_i * (softmax(x_i)_j - [j == t_i]), softmax from the saved lse. Rows with
    /// c_i = 0 get exactly zero (stored when beta is 0, untouched otherwise).
    /// logits, dx: [rows,vocab]; lse, scale: [rows]; targets: rows ids in 0..<vocab
    public static func softmaxMinusOneHot(logits: UnsafePointer<Float>, lse: UnsafePointer<Float>,
                                          targets: UnsafePointer<Int32>, scale: UnsafePointer<Float>, rows: Int,
                                          vocab: Int, dx: UnsafeMutablePointer<Float>, beta: Float) {
        parallelFor(rows, minChunk: 8) { r in
            for i in r {
                let c = scale[i], di = dx + i * vocab
                if c == 0 {
                    if beta == 0 { di.update(repeating: 0, count: vocab) }
                    continue
                }
                if beta == 0 {
                    expShiftScale(logits + i * vocab, di, vocab, shift: lse[i], scale: c)
                } else {
                    expShiftScaleAdd(logits + i * vocab, di, vocab, shift: lse[i], scale: c)
                }
                di[Int(targets[i])] -= c
            }
        }
    }

    /// log softmax(x / t)[target] of one row of n logits, t = temperature except 0 (greedy) counts as 1 (the
    /// rule of `headLogProbs`); x is multiplied by 1 / t in place.
    public static func logProb(row x: UnsafeMutablePointer<Float>, _ n: Int, target: Int, temperature: Float) -> Float {
        let scale = 1 / (temperature > 0 ? temperature : 1)
        if scale != 1 { for j in 0..<n { x[j] *= scale } }
        return x[target] - logSumExp(x, n)
    }

    /// A sampler's unnormalised distribution over one row: p[j] = exp((x[j] - m) * scale), m = max_j x[j],
    /// exactly 0 where that is below e^-87 (a -inf logit, a masked token, gets 0). Returns the first index of
    /// m, m, and sum_j p[j].
    public static func softmaxNumerators(_ x: UnsafePointer<Float>, _ n: Int, scale: Float,
                                         out p: UnsafeMutablePointer<Float>) -> (argMax: Int, max: Float, sum: Float) {
        let m = rowMax(x, n)
        var best = 0
        while best < n - 1 && x[best] != m { best += 1 }
        let lo = SIMD8<Float>(repeating: -87.3), zero = SIMD8<Float>(repeating: 0)
        var acc = zero
        var j = 0
        while j + 8 <= n {
            let z = (UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self) - m) * scale
            let e = fastExp(z).replacing(with: zero, where: z .< lo)
            UnsafeMutableRawPointer(p + j).storeBytes(of: e, as: SIMD8<Float>.self)
            acc += e
            j += 8
        }
        var sum = acc.sum()
        while j < n {
            let z = (x[j] - m) * scale
            p[j] = z < -87.3 ? 0 : fastExp(z)
            sum += p[j]
            j += 1
        }
        return (best, m, sum)
    }

    /// Row-wise log-softmax. x: [rows,vocab] -> out: [rows,vocab] (out may alias x).
    public static func logSoftmax(x: UnsafePointer<Float>, rows: Int, vocab: Int, out: UnsafeMutablePointer<Float>) {
        parallelFor(rows, minChunk: 8) { r in
            for i in r {
                let xi = x + i * vocab, oi = out + i * vocab
                let l = logSumExp(xi, vocab)
                for j in 0..<vocab { oi[j] = xi[j] - l }
            }
        }
    }

    /// Per-row cross-entropy: lse[i] = log sum_j exp(x[i,j]), loss[i] = lse[i] - x[i, t_i].
    /// logits: [rows,vocab], targets: rows ids in 0..<vocab -> loss, lse: [rows]
    public static func crossEntropyRows(logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int,
                                        vocab: Int, loss: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>) {
        parallelFor(rows, minChunk: 8) { r in
            for i in r {
                let xi = logits + i * vocab
                let l = logSumExp(xi, vocab)
                lse[i] = l
                loss[i] = l - xi[Int(targets[i])]
            }
        }
    }
}

/// Row-wise log-softmax. x: [N,V] -> [N,V]
public func logSoftmax(_ x: Tensor) throws -> Tensor {
    try check(x.rank == 2, "logSoftmax needs x [N,V], got \(x.shape)")
    let n = x.shape[0], v = x.shape[1]
    let out = Tensor(zeros: [n, v])
    Kernels.logSoftmax(x: x.data, rows: n, vocab: v, out: out.data)
    return Tensor.record(out, inputs: [x]) { out in
        // dx_ij += g_ij - softmax_ij * sum_k g_ik, softmax = exp(out)
        let g = out.grad!, y = out.data, dx = x.ensureGrad()
        parallelFor(n, minChunk: 8) { r in
            for i in r {
                let gi = g + i * v, yi = y + i * v, di = dx + i * v
                var s: Float = 0
                for j in 0..<v { s += gi[j] }
                for j in 0..<v { di[j] += gi[j] }
                Kernels.expShiftScaleAdd(yi, di, v, shift: 0, scale: -s)
            }
        }
    }
}

/// Mean cross-entropy of rows of logits against targets, as a scalar:
/// sum_i m_i * (lse_i - x[i,t_i]) / sum_i m_i (plain mean without a mask; 0 if sum(m) == 0).
/// Fused: keeps only the per-row log-sum-exp, never a probability tensor; masked rows (m = 0) get
/// exactly zero gradient. logits: [N,V], targets: N ids in 0..<V, mask: N weights >= 0 -> []
public func crossEntropy(_ logits: Tensor, targets: [Int32], mask: [Float]? = nil) throws -> Tensor {
    try check(logits.rank == 2, "crossEntropy needs logits [N,V], got \(logits.shape)")
    let n = logits.shape[0], v = logits.shape[1]
    try check(targets.count == n, "crossEntropy: \(targets.count) targets for \(n) rows (logits \(logits.shape))")
    if let bad = targets.first(where: { $0 < 0 || Int($0) >= v }) {
        throw TensorError("crossEntropy: target id \(bad) outside vocabulary 0..<\(v)")
    }
    if let mask {
        try check(mask.count == n, "crossEntropy: mask has \(mask.count) values for \(n) rows")
        try check(mask.allSatisfy { $0 >= 0 && $0.isFinite }, "crossEntropy: mask weights must be finite and >= 0")
    }
    let weights = mask ?? [Float](repeating: 1, count: n)
    let total = weights.reduce(0, +)
    let rowLoss = Tensor(uninitialized: [n]), lse = Tensor(uninitialized: [n])
    targets.withUnsafeBufferPointer { t in
        if n > 0 {
            Kernels.crossEntropyRows(logits: logits.data, targets: t.baseAddress!, rows: n, vocab: v,
                                     loss: rowLoss.data, lse: lse.data)
        }
    }
    let out = Tensor(zeros: [])
    if total > 0 {
        var s: Double = 0
        for i in 0..<n where weights[i] != 0 { s += Double(weights[i]) * Double(rowLoss.data[i]) }
        out.data[0] = Float(s / Double(total))
    }
    return Tensor.record(out, inputs: [logits]) { out in
        // d loss / d x_ij = m_i / W * (softmax_ij - [j == t_i])
        guard total > 0 else { return }
        let g = out.grad![0] / total
        let scale = weights.map { g * $0 }
        let (dx, beta) = logits.gradForFullWrite()
        targets.withUnsafeBufferPointer { t in
            scale.withUnsafeBufferPointer { c in
                Kernels.softmaxMinusOneHot(logits: logits.data, lse: lse.data, targets: t.baseAddress!,
                                           scale: c.baseAddress!, rows: n, vocab: v, dx: dx, beta: beta)
            }
        }
    }
}
