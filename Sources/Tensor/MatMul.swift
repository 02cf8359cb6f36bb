import Foundation
import COpenBLAS

/// Raw kernels: thin, allocation-free wrappers over buffers. The inference path (KV-cache decoding) calls
/// these directly; the Tensor ops below wrap them with shape checks and a backward closure.
public enum Kernels {
    /// C[M,N] = alpha * op(A) op(B) + beta * C, row-major; op(A) is [M,K], op(B) is [K,N].
    /// A is stored [M,K] (or [K,M] if transA), B is stored [K,N] (or [N,K] if transB).
    /// Large products are split over `Threads.count` workers, one contiguous slab of C's longer side each;
    /// inside `withSingleThreadedBLAS` (our own workers) the call stays on the calling thread.
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        GEMMProfile.note(m: m, n: n, k: k, transA: transA, transB: transB)
        let parts = Threads.count   // first use pins OpenBLAS to one thread
        if parts == 1 || Threads.insideWorkers || m * n * k < gemmSplitMACs {
            sgemm1(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                   beta: beta, c: c, ldc: ldc)
            return
        }
        // Rows of C are rows of op(A) (a row offset, or a column offset when A is stored transposed);
        // columns of C are columns of op(B). Slabs are multiples of 16 rows/columns.
        let splitRows = m >= n
        let total = splitRows ? m : n
        let per = ((total + parts - 1) / parts + 15) / 16 * 16
        Threads.insideWorkers = true
        defer { Threads.insideWorkers = false }
        WorkerPool.shared.run(chunks: (total + per - 1) / per, threads: parts) { p in
            let lo = p * per, hi = min(total, lo + per)
            if splitRows {
                sgemm1(transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha,
                       a: transA ? a + lo : a + lo * lda, lda: lda, b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
            } else {
                sgemm1(transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a, lda: lda,
                       b: transB ? b + lo * ldb : b + lo, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
            }
        }
    }

    /// Below this many multiply-adds a fork (waking a second worker) costs more than the worker saves.
    static let gemmSplitMACs = 1 << 21

    /// One single-threaded OpenBLAS call.
    @inline(__always)
    static func sgemm1(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                       a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                       beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// C = op(A) op(B) for 2-D tensors. Transposes are BLAS flags, never copies.
/// a: [M,K] or [K,M] (transA), b: [K,N] or [N,K] (transB) -> [M,N]
public func matmul(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) throws -> Tensor {
    try check(a.rank == 2 && b.rank == 2, "matmul needs 2-D tensors, got \(a.shape) and \(b.shape)")
    let (m, k) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let (kb, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
    try check(k == kb, "matmul inner dimensions differ: \(a.shape)\(transA ? "ᵀ" : "") x \(b.shape)\(transB ? "ᵀ" : "")")
    let out = Tensor(uninitialized: [m, n])   // beta = 0 overwrites every element
    let lda = a.shape[1], ldb = b.shape[1]
    Kernels.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a.data, lda: lda, b: b.data, ldb: ldb,
                  beta: 0, c: out.data, ldc: n)
    return Tensor.record(out, inputs: [a, b]) { out in
        let dc = out.grad!
        if a.requiresGrad {
            let (da, beta) = a.gradForFullWrite()
            if !transA {   // dA[M,K] += dC[M,N] op(B)ᵀ
                Kernels.sgemm(transA: false, transB: !transB, m: m, n: k, k: n, a: dc, lda: n, b: b.data, ldb: ldb,
                              beta: beta, c: da, ldc: k)
            } else {       // dA[K,M] += op(B) dCᵀ
                Kernels.sgemm(transA: transB, transB: true, m: k, n: m, k: n, a: b.data, lda: ldb, b: dc, ldb: n,
                              beta: beta, c: da, ldc: m)
            }
        }
        if b.requiresGrad {
            let (db, beta) = b.gradForFullWrite()
            if !transB {   // dB[K,N] += op(A)ᵀ dC
                Kernels.sgemm(transA: !transA, transB: false, m: k, n: n, k: m, a: a.data, lda: lda, b: dc, ldb: n,
                              beta: beta, c: db, ldc: n)
            } else {       // dB[N,K] += dCᵀ op(A)
                Kernels.sgemm(transA: true, transB: transA, m: n, n: k, k: m, a: dc, lda: n, b: a.data, ldb: lda,
                              beta: beta, c: db, ldc: k)
            }
        }
    }
}

/// y = x Wᵀ with a weight in the Hugging Face [out, in] layout. x: [N,in], w: [out,in] -> [N,out]
public func linear(_ x: Tensor, _ w: Tensor) throws -> Tensor {
    try matmul(x, w, transB: true)
}
