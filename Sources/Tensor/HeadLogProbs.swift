import Foundation

/// Rows per chunk of `headLogProbs`: [256, V] logits at a time (48 MB for Qwen2's 151,936 tokens).
public let headChunkRows = 256

/// The output head fused with log-softmax and the gather of the targets, in chunks of rows, so that no full
/// [N, V] logits exist (at real vocabularies they dominate memory: 64 x 512 tokens x 151,936 is 18.6 GiB, the same
/// again for their gradient). Row i gives log softmax(h_i Wᵀ / t)[targets_i]; only each row's log-sum-exp is
/// kept, and backward recomputes a chunk's logits (one extra GEMM of the head's size) to form
/// d logit_ij = g_i ([j == t_i] - p_ij) / t, then dh = dlogits W and dW += dlogitsᵀ h.
/// The temperature rule everywhere (sampler, trainer): t = temperature, except 0 (greedy) counts as 1.
/// `eachChunk(logits, rows)` sees each chunk's logits / t ([rows.count, V], rows in order) during the forward
/// pass, for statistics that need whole rows (the trainer's entropy and gradient attribution).
/// h: [N, D], w: [V, D], targets: N ids in 0..<V -> [N]
public func headLogProbs(_ h: Tensor, _ w: Tensor, targets: [Int32], temperature: Float = 1,
                         chunkRows: Int = headChunkRows,
                         eachChunk: ((_ logits: UnsafePointer<Float>, _ rows: Range<Int>) throws -> Void)? = nil) throws -> Tensor {
    try check(h.rank == 2 && w.rank == 2 && h.shape[1] == w.shape[1],
              "headLogProbs needs h [N, D] and w [V, D], got \(h.shape) and \(w.shape)")
    let n = h.shape[0], d = h.shape[1], v = w.shape[0]
    try check(targets.count == n, "headLogProbs: \(targets.count) targets for \(n) rows")
    try check(chunkRows > 0, "headLogProbs: chunkRows must be positive")
    try check(temperature >= 0 && temperature.isFinite, "headLogProbs: temperature must be finite and >= 0, got \(temperature)")
    if let bad = targets.first(where: { $0 < 0 || Int($0) >= v }) {
        throw TensorError("headLogProbs: target id \(bad) outside vocabulary 0..<\(v)")
    }
    let scale = 1 / (temperature > 0 ? temperature : 1)
    let out = Tensor(uninitialized: [n]), lse = Tensor(uninitialized: [n])
    let logits = StorageCache.allocate(min(chunkRows, max(n, 1)) * v)
    defer { StorageCache.deallocate(logits, count: min(chunkRows, max(n, 1)) * v) }
    try targets.withUnsafeBufferPointer { t in
        for r0 in stride(from: 0, to: n, by: chunkRows) {
            let rows = min(chunkRows, n - r0)
            // logits[rows, V] = scale * h[r0..., :] Wᵀ
            Kernels.sgemm(transA: false, transB: true, m: rows, n: v, k: d, alpha: scale, a: h.data + r0 * d, lda: d,
                          b: w.data, ldb: d, beta: 0, c: logits, ldc: v)
            Kernels.crossEntropyRows(logits: logits, targets: t.baseAddress! + r0, rows: rows, vocab: v,
                                     loss: out.data + r0, lse: lse.data + r0)
            try eachChunk?(logits, r0..<(r0 + rows))
        }
    }
    for i in 0..<n { out.data[i] = -out.data[i] }
    return Tensor.record(out, inputs: [h, w]) { out in
        let g = out.grad!, count = min(chunkRows, max(n, 1)) * v
        let logits = StorageCache.allocate(count)
        defer { StorageCache.deallocate(logits, count: count) }
        let dh = h.requiresGrad ? h.gradForFullWrite() : nil
        let dw = w.requiresGrad ? w.ensureGrad() : nil
        let coefficients = (0..<n).map { -g[$0] }   // softmaxMinusOneHot's scale: c_i (p - onehot) = g_i (onehot - p)
        targets.withUnsafeBufferPointer { t in
            coefficients.withUnsafeBufferPointer { c in
                for r0 in stride(from: 0, to: n, by: chunkRows) {
                    let rows = min(chunkRows, n - r0)
                    Kernels.sgemm(transA: false, transB: true, m: rows, n: v, k: d, alpha: scale, a: h.data + r0 * d,
                                  lda: d, b: w.data, ldb: d, beta: 0, c: logits, ldc: v)
                    // d(scaled logits), in place of the logits.
                    Kernels.softmaxMinusOneHot(logits: logits, lse: lse.data + r0, targets: t.baseAddress! + r0,
                                               scale: c.baseAddress! + r0, rows: rows, vocab: v, dx: logits, beta: 0)
                    if let dh {   // dh[rows, D] = scale * dlogits W
                        Kernels.sgemm(transA: false, transB: false, m: rows, n: d, k: v, alpha: scale, a: logits, lda: v,
                                      b: w.data, ldb: d, beta: dh.beta, c: dh.grad + r0 * d, ldc: d)
                    }
                    if let dw {   // dW[V, D] += scale * dlogitsᵀ h
                        Kernels.sgemm(transA: true, transB: false, m: v, n: d, k: rows, alpha: scale, a: logits, lda: v,
                                      b: h.data + r0 * d, ldb: d, beta: 1, c: dw, ldc: d)
                    }
                }
            }
        }
    }
}
