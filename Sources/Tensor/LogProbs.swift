import Foundation

/// Fused log-softmax + gather: the log-probability of each row's target token. Keeps only the per-row
/// log-sum-exp for backward (softmax is recomputed there), never a full probability tensor.
/// The same row kernels as `crossEntropy`, with the sign flipped: out_i = -(lse_i - x[i, t_i]).
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
        if n > 0 {
            Kernels.crossEntropyRows(logits: logits.data, targets: t.baseAddress!, rows: n, vocab: v,
                                     loss: out.data, lse: lse.data)
        }
    }
    for i in 0..<n { out.data[i] = -out.data[i] }
    return Tensor.record(out, inputs: [logits]) { out in
        // d out_i / d x_ij = [j == t_i] - softmax_ij: softmaxMinusOneHot with scale -g_i
        let scale = (0..<n).map { -out.grad![$0] }
        let (dx, beta) = logits.gradForFullWrite()
        targets.withUnsafeBufferPointer { t in
            scale.withUnsafeBufferPointer { c in
                Kernels.softmaxMinusOneHot(logits: logits.data, lse: lse.data, targets: t.baseAddress!,
                                           scale: c.baseAddress!, rows: n, vocab: v, dx: dx, beta: beta)
            }
        }
    }
}
