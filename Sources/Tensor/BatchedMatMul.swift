import Foundation

extension Kernels {
    /// For each b in 0..<batch: C_b[M,N] = alpha * op(A_b) op(B_b) + beta * C_b, with A_b = a + b*strideA etc.
    /// Stored layouts as in `sgemm` (A_b is [M,K] or [K,M] if transA; B_b is [K,N] or [N,K] if transB).
    public static func bmm(batch: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                           a: UnsafePointer<Float>, lda: Int, strideA: Int, b: UnsafePointer<Float>, ldb: Int, strideB: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int) {
        for i in 0..<batch {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a + i * strideA, lda: lda,
                  b: b + i * strideB, ldb: ldb, beta: beta, c: c + i * strideC, ldc: ldc)
        }
    }
}

/// Batched matmul, transposes as BLAS flags. a: [B,M,K] (or [B,K,M] if transA), b: [B,K,N] (or [B,N,K]
/// if transB) -> [B,M,N]
public func bmm(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) throws -> Tensor {
    try check(a.rank == 3 && b.rank == 3 && a.shape[0] == b.shape[0],
              "bmm needs [B,M,K] and [B,K,N] with equal B, got \(a.shape) and \(b.shape)")
    let batch = a.shape[0]
    let (m, k) = transA ? (a.shape[2], a.shape[1]) : (a.shape[1], a.shape[2])
    let (kb, n) = transB ? (b.shape[2], b.shape[1]) : (b.shape[1], b.shape[2])
    try check(k == kb, "bmm inner dimensions differ: \(a.shape)\(transA ? "ᵀ" : "") x \(b.shape)\(transB ? "ᵀ" : "")")
    let out = Tensor(zeros: [batch, m, n])
    let lda = a.shape[2], ldb = b.shape[2], sa = m * k, sb = k * n, sc = m * n
    Kernels.bmm(batch: batch, transA: transA, transB: transB, m: m, n: n, k: k, a: a.data, lda: lda, strideA: sa,
                b: b.data, ldb: ldb, strideB: sb, beta: 0, c: out.data, ldc: n, strideC: sc)
    return Tensor.record(out, inputs: [a, b]) { out in
        let dc = out.grad!
        if a.requiresGrad {
            let da = a.ensureGrad()
            if !transA {   // dA[M,K] += dC[M,N] op(B)ᵀ
                Kernels.bmm(batch: batch, transA: false, transB: !transB, m: m, n: k, k: n, a: dc, lda: n, strideA: sc,
                            b: b.data, ldb: ldb, strideB: sb, beta: 1, c: da, ldc: k, strideC: sa)
            } else {       // dA[K,M] += op(B) dCᵀ
                Kernels.bmm(batch: batch, transA: transB, transB: true, m: k, n: m, k: n, a: b.data, lda: ldb, strideA: sb,
                            b: dc, ldb: n, strideB: sc, beta: 1, c: da, ldc: m, strideC: sa)
            }
        }
        if b.requiresGrad {
            let db = b.ensureGrad()
            if !transB {   // dB[K,N] += op(A)ᵀ dC
                Kernels.bmm(batch: batch, transA: !transA, transB: false, m: k, n: n, k: m, a: a.data, lda: lda, strideA: sa,
                            b: dc, ldb: n, strideB: sc, beta: 1, c: db, ldc: n, strideC: sb)
            } else {       // dB[N,K] += dCᵀ op(A)
                Kernels.bmm(batch: batch, transA: true, transB: transA, m: n, n: k, k: m, a: dc, lda: n, strideA: sc,
                            b: a.data, ldb: lda, strideB: sa, beta: 1, c: db, ldc: k, strideC: sb)
            }
        }
    }
}
