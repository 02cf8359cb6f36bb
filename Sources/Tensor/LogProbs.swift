import Foundation

extension Kernels {
    /// Per row of logits[N,V]: lse[i] = log sum_j exp(x[i,j]); out[i] = x[i, t_i] - lse[i].
    public static func gatherLogProbs(logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int,
                                      vocab: Int, out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>) {
        parallelFor(rows, minChunk: 16) { range in
            for i in range {
                let x = logits + i * vocab
                var mx = -Float.infinity
                for j in 0..<vocab { mx = max(mx, x[j]) }
                var s: Float = 0
                for j in 0..<vocab { s += expf(x[j] - mx) }
                let l = mx + logf(s)
                lse[i] = l
                out[i] = x[Int(targets[i])] - l
            }
        }
    }
}

/// Fused log-softmax + gather: the log-probability of each row's target token. Keeps only the per-row
/// log-sum-exp for backward (softmax is recomputed there), never a full probability tensor.
/// logits: [N,V], targets: N ids in 0..<V -> [N]
public func gatherLogProbs(_ logits: Tensor, targets: [Int32]) throws -> Tensor {
    try check(logits.rank == 2, "gatherLogProbs needs logits [N,V], got \(logits.shape)")
    let n = logits.shape[0], v = logits.shape[1]
    try check(targets.count == n, "gatherLogProbs: \(targets.count) targets for \(n) rows")
    if let bad = targets.first(where: { $0 < 0 || Int($0) >= v }) {
        throw TensorError("gatherLogProbs: target id \(bad) outside vocabulary 0..<\(v)")
    }
    let out = Tensor(uninitialized: [n])
    let lse = Tensor(uninitialized: [n])
    targets.withUnsafeBufferPointer { t in
        Kernels.gatherLogProbs(logits: logits.data, targets: t.baseAddress!, rows: n, vocab: v, out: out.data, lse: lse.data)
    }
    return Tensor.record(out, inputs: [logits]) { out in
        // d out_i / d x_ij = [j == t_i] - softmax_ij
        let g = out.grad!, dx = logits.ensureGrad(), x = logits.data, l = lse.data
        targets.withUnsafeBufferPointer { t in
            parallelFor(n, minChunk: 16) { range in
                for i in range where g[i] != 0 {
                    let gi = g[i], row = x + i * v, drow = dx + i * v, li = l[i]
                    for j in 0..<v { drow[j] -= gi * expf(row[j] - li) }
                    drow[Int(t[i])] += gi
                }
            }
        }
    }
}
