import Foundation
import COpenBLAS

// Fused causal self-attention, FlashAttention-style on the CPU: per (batch, head), queries are processed
// in blocks of `attentionBlock` rows; a block's scores against only the keys it may see (0..<last query
// position + 1) come from one small sgemm, softmax runs in place on that [block, keys] scratch, and a
// second sgemm multiplies by V. Only the per-query log-sum-exp is kept for backward, which recomputes the
// probabilities block by block (dS = P * (dP - rowsum(dO * O))). Small sgemm blocks beat SIMD dot/axpy
// loops over the head dimension, because the sgemm calls run near BLAS peak (docs/PERFORMANCE.md).

extension Kernels {
    /// Query rows per block: big enough for an efficient sgemm, small enough that the causal waste (keys
    /// past the diagonal inside a block) stays small.
    public static let attentionBlock = 64

    /// Floats of scratch `attentionHead` needs for `keys` visible keys (forward: one block of scores).
    public static func attentionScratchCount(keys: Int) -> Int { attentionBlock * max(keys, 1) }

    /// Causal attention for one head. Query i (0..<queries) sits at absolute position queryStart + i and
    /// attends keys 0...queryStart + i. Rows are strided (ldq, ldk, ldv, ldo), so q/k/v can be column
    /// slices of a fused qkv buffer or of a KV cache. out[i] = sum_j softmax_j(q_i.k_j / sqrt(hd)) v_j.
    /// lse (optional, [queries]) receives each query's log-sum-exp of the scaled scores (for backward).
    /// scratch: attentionScratchCount(keys: queryStart + queries) floats. BLAS must be single-threaded
    /// when this runs on several threads at once (see `withSingleThreadedBLAS`).
    public static func attentionHead(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int,
                                     v: UnsafePointer<Float>, ldv: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                                     queries: Int, queryStart: Int, headDim hd: Int,
                                     lse: UnsafeMutablePointer<Float>?, scratch: UnsafeMutablePointer<Float>) {
        let scale = 1 / Float(hd).squareRoot()
        var q0 = 0
        while q0 < queries {
            let qb = min(attentionBlock, queries - q0)
            let nk = queryStart + q0 + qb            // keys visible to the block's last query
            let s = scratch                          // [qb, nk]
            sgemm(transA: false, transB: true, m: qb, n: nk, k: hd, alpha: scale, a: q + q0 * ldq, lda: ldq,
                  b: k, ldb: ldk, beta: 0, c: s, ldc: nk)
            for r in 0..<qb {
                let row = s + r * nk, vis = queryStart + q0 + r + 1
                let m = rowMax(row, vis)
                let sum = expSum(row, vis, shift: m)
                expShiftScale(row, row, vis, shift: m, scale: 1 / sum)
                (row + vis).update(repeating: 0, count: nk - vis)   // future keys: exactly zero
                lse?[q0 + r] = m + logf(sum)
            }
            sgemm(transA: false, transB: false, m: qb, n: hd, k: nk, a: s, lda: nk, b: v, ldb: ldv,
                  beta: 0, c: out + q0 * ldo, ldc: ldo)
            q0 += qb
        }
    }

    /// Backward of `attentionHead` (queryStart = 0 form used in training) into dq, dk, dv (strided like
    /// q, k, v): beta 1 accumulates, beta 0 overwrites (the buffers may then be uninitialized); dq and dk/dv have
    /// their own beta, since query heads that share a KV head add into one dk/dv. o and lse are
    /// the forward's output and log-sum-exps, dO the output gradient.
    /// scratch: 2 * attentionScratchCount(keys: queries) floats.
    static func attentionHeadBackward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                      ld: Int, o: UnsafePointer<Float>, dO: UnsafePointer<Float>, ldo: Int,
                                      lse: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>,
                                      dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                                      betaQ: Float, betaKV: Float, queries: Int, headDim hd: Int,
                                      scratch: UnsafeMutablePointer<Float>) {
        let scale = 1 / Float(hd).squareRoot()
        let p = scratch, dp = scratch + attentionScratchCount(keys: queries)
        // Last block first: it sees every key, so its dK/dV products cover all rows and can carry `beta`;
        // the earlier blocks then accumulate (beta 1). Each block writes its own dQ rows once.
        let blocks = (queries + attentionBlock - 1) / attentionBlock
        for blockIndex in stride(from: blocks - 1, through: 0, by: -1) {
            let q0 = blockIndex * attentionBlock
            let qb = min(attentionBlock, queries - q0), nk = q0 + qb
            let betaBlock: Float = blockIndex == blocks - 1 ? betaKV : 1
            // P = exp(scale Q Kᵀ - lse), zero past the diagonal.   [qb, nk]
            sgemm(transA: false, transB: true, m: qb, n: nk, k: hd, alpha: scale, a: q + q0 * ld, lda: ld,
                  b: k, ldb: ld, beta: 0, c: p, ldc: nk)
            for r in 0..<qb {
                let row = p + r * nk, vis = q0 + r + 1
                expShiftScale(row, row, vis, shift: lse[q0 + r], scale: 1)
                (row + vis).update(repeating: 0, count: nk - vis)
            }
            // dV += Pᵀ dO
            sgemm(transA: true, transB: false, m: nk, n: hd, k: qb, a: p, lda: nk, b: dO + q0 * ldo, ldb: ldo,
                  beta: betaBlock, c: dv, ldc: ld)
            // dP = dO Vᵀ, then dS = scale * P * (dP - rowsum(dO * O))
            sgemm(transA: false, transB: true, m: qb, n: nk, k: hd, a: dO + q0 * ldo, lda: ldo, b: v, ldb: ld,
                  beta: 0, c: dp, ldc: nk)
            for r in 0..<qb {
                let t = q0 + r, dOr = dO + t * ldo, orow = o + t * ldo
                var dsum: Float = 0
                for j in 0..<hd { dsum += dOr[j] * orow[j] }
                let prow = p + r * nk, drow = dp + r * nk, vis = t + 1
                for j in 0..<vis { drow[j] = scale * prow[j] * (drow[j] - dsum) }
                (drow + vis).update(repeating: 0, count: nk - vis)
            }
            // dQ += dS K ; dK += dSᵀ Q
            sgemm(transA: false, transB: false, m: qb, n: hd, k: nk, a: dp, lda: nk, b: k, ldb: ld,
                  beta: betaQ, c: dq + q0 * ld, ldc: ld)
            sgemm(transA: true, transB: false, m: nk, n: hd, k: qb, a: dp, lda: nk, b: q + q0 * ld, ldb: ld,
                  beta: betaBlock, c: dk, ldc: ld)
        }
    }

    /// Runs `body` with every `sgemm` single-threaded: for BLAS calls made from our own parallel workers.
    public static func withSingleThreadedBLAS<T>(_ body: () throws -> T) rethrows -> T {
        let outer = Threads.insideWorkers
        Threads.insideWorkers = true
        defer { Threads.insideWorkers = outer }
        return try body()
    }
}

/// Fused causal self-attention over a fused, already rotated qkv projection, with grouped-query attention.
/// qkv: [B*T, (H + 2 KV) hd] (row b*T + t; q = H heads, then k = KV heads, then v = KV heads; query head h
/// reads KV head h / (H / KV); KV = H is plain multi-head attention) -> [B*T, H hd] with head h in cols
/// h*hd..<(h+1)*hd. Causal: query t sees keys t2 <= t only, so right padding needs no mask. Forward is
/// parallel over (batch, query head); backward over (batch, KV head), so the query heads of a group add
/// their dK and dV one after another into the same rows.
public func causalAttention(_ qkv: Tensor, batch: Int, seqLen: Int, heads: Int, kvHeads: Int? = nil) throws -> Tensor {
    let kv = kvHeads ?? heads
    try check(batch > 0 && seqLen > 0 && heads > 0 && kv > 0 && heads % kv == 0,
              "causalAttention needs positive batch, seqLen, heads and kvHeads dividing heads, got \(batch), \(seqLen), \(heads), \(kv)")
    try check(qkv.rank == 2 && qkv.shape[0] == batch * seqLen && qkv.shape[1] % (heads + 2 * kv) == 0,
              "causalAttention needs qkv [batch*seqLen, (heads + 2*kvHeads)*hd] = [\(batch * seqLen), (\(heads) + 2*\(kv))*hd], got \(qkv.shape)")
    let t = seqLen, ld = qkv.shape[1], hd = ld / (heads + 2 * kv), d = heads * hd, group = heads / kv
    try check(hd > 0, "causalAttention: head size is 0 for qkv \(qkv.shape) and heads=\(heads)")
    let out = Tensor(uninitialized: [batch * t, d])      // every (row, head) block is written
    let lse = Tensor(uninitialized: [batch * heads, t])
    let x = qkv.data, o = out.data, l = lse.data
    // Offsets of query head (b, h): q at row b*T, column h*hd; its k and v at columns D + g*hd and
    // D + KV*hd + g*hd with g = h / group; its output at row b*T, column h*hd.
    func base(_ bh: Int) -> (q: Int, k: Int, v: Int, out: Int) {
        let b = bh / heads, h = bh % heads, row = b * t * ld
        return (row + h * hd, row + d + (h / group) * hd, row + d + (kv + h / group) * hd, b * t * d + h * hd)
    }
    Kernels.withSingleThreadedBLAS {
        parallelFor(batch * heads) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: Kernels.attentionScratchCount(keys: t))
            defer { scratch.deallocate() }
            for bh in range {
                let p = base(bh)
                Kernels.attentionHead(q: x + p.q, ldq: ld, k: x + p.k, ldk: ld, v: x + p.v, ldv: ld,
                                      out: o + p.out, ldo: d, queries: t, queryStart: 0, headDim: hd,
                                      lse: l + bh * t, scratch: scratch)
            }
        }
    }
    return Tensor.record(out, inputs: [qkv]) { out in
        // Buffers read through their tensors here, so the closure keeps them alive.
        let g = out.grad!, (dx, beta) = qkv.gradForFullWrite(), x = qkv.data, o = out.data, l = lse.data
        Kernels.withSingleThreadedBLAS {
            parallelFor(batch * kv) { range in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * Kernels.attentionScratchCount(keys: t))
                defer { scratch.deallocate() }
                for bg in range {
                    // The group's first query head stores (or adds, per beta) dK and dV; the others add.
                    for j in 0..<group {
                        let bh = (bg / kv) * heads + (bg % kv) * group + j, p = base(bh)
                        Kernels.attentionHeadBackward(q: x + p.q, k: x + p.k, v: x + p.v, ld: ld, o: o + p.out,
                                                      dO: g + p.out, ldo: d, lse: l + bh * t, dq: dx + p.q,
                                                      dk: dx + p.k, dv: dx + p.v, betaQ: beta,
                                                      betaKV: j == 0 ? beta : 1, queries: t, headDim: hd,
                                                      scratch: scratch)
                    }
                }
            }
        }
    }
}
