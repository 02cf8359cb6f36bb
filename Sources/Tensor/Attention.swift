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

    /// Backward of `attentionHead` into dq, dk, dv: beta 1 accumulates, beta 0 overwrites (the buffers may then
    /// be uninitialized); dq and dk/dv have their own beta, since query heads that share a KV head add into one
    /// dk/dv. Rows are strided: q and dq by ldq; k, v, dk and dv by ldk; o and dO by ldo. o and lse are the
    /// forward's output and log-sum-exps, dO the output gradient; queryStart as in the forward.
    /// scratch: 2 * attentionScratchCount(keys: queryStart + queries) floats.
    static func attentionHeadBackward(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                      ldk: Int, o: UnsafePointer<Float>, dO: UnsafePointer<Float>, ldo: Int,
                                      lse: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>,
                                      dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                                      betaQ: Float, betaKV: Float, queries: Int, queryStart: Int, headDim hd: Int,
                                      scratch: UnsafeMutablePointer<Float>) {
        let scale = 1 / Float(hd).squareRoot()
        let p = scratch, dp = scratch + attentionScratchCount(keys: queryStart + queries)
        // Last block first: it sees every key, so its dK/dV products cover all rows and can carry `beta`;
        // the earlier blocks then accumulate (beta 1). Each block writes its own dQ rows once.
        let blocks = (queries + attentionBlock - 1) / attentionBlock
        for blockIndex in stride(from: blocks - 1, through: 0, by: -1) {
            let q0 = blockIndex * attentionBlock
            let qb = min(attentionBlock, queries - q0), nk = queryStart + q0 + qb
            let betaBlock: Float = blockIndex == blocks - 1 ? betaKV : 1
            // P = exp(scale Q Kᵀ - lse), zero past the diagonal.   [qb, nk]
            sgemm(transA: false, transB: true, m: qb, n: nk, k: hd, alpha: scale, a: q + q0 * ldq, lda: ldq,
                  b: k, ldb: ldk, beta: 0, c: p, ldc: nk)
            for r in 0..<qb {
                let row = p + r * nk, vis = queryStart + q0 + r + 1
                expShiftScale(row, row, vis, shift: lse[q0 + r], scale: 1)
                (row + vis).update(repeating: 0, count: nk - vis)
            }
            // dV += Pᵀ dO
            sgemm(transA: true, transB: false, m: nk, n: hd, k: qb, a: p, lda: nk, b: dO + q0 * ldo, ldb: ldo,
                  beta: betaBlock, c: dv, ldc: ldk)
            // dP = dO Vᵀ, then dS = scale * P * (dP - rowsum(dO * O))
            sgemm(transA: false, transB: true, m: qb, n: nk, k: hd, a: dO + q0 * ldo, lda: ldo, b: v, ldb: ldk,
                  beta: 0, c: dp, ldc: nk)
            for r in 0..<qb {
                let t = q0 + r, dOr = dO + t * ldo, orow = o + t * ldo
                var dsum: Float = 0
                for j in 0..<hd { dsum += dOr[j] * orow[j] }
                let prow = p + r * nk, drow = dp + r * nk, vis = queryStart + t + 1
                for j in 0..<vis { drow[j] = scale * prow[j] * (drow[j] - dsum) }
                (drow + vis).update(repeating: 0, count: nk - vis)
            }
            // dQ += dS K ; dK += dSᵀ Q
            sgemm(transA: false, transB: false, m: qb, n: hd, k: nk, a: dp, lda: nk, b: k, ldb: ldk,
                  beta: betaQ, c: dq + q0 * ldq, ldc: ldq)
            sgemm(transA: true, transB: false, m: nk, n: hd, k: qb, a: dp, lda: nk, b: q + q0 * ldq, ldb: ldq,
                  beta: betaBlock, c: dk, ldc: ldk)
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


/// Fused causal self-attention over a fused, already rotated qkv projection, with grouped-query attention, on
/// a right-padded [B, T] batch: `causalAttention(qkv, layout:...)` with B segments of T rows. Causal: query t
/// sees keys t2 <= t only, so right padding needs no mask.
public func causalAttention(_ qkv: Tensor, batch: Int, seqLen: Int, heads: Int, kvHeads: Int? = nil) throws -> Tensor {
    try check(batch > 0 && seqLen > 0, "causalAttention needs positive batch and seqLen, got \(batch), \(seqLen)")
    return try causalAttention(qkv, layout: AttentionLayout(batch: batch, seqLen: seqLen), heads: heads, kvHeads: kvHeads)
}

/// Fused causal self-attention over a fused, already rotated qkv projection, with grouped-query attention, on
/// the rows of `layout` (each row sees the rows before it in its segment, and its segment's prefix).
/// qkv: [N, (H + 2 KV) hd] (q = H heads, then k = KV heads, then v = KV heads; query head h reads KV head
/// h / (H / KV); KV = H is plain multi-head attention) -> [N, H hd] with head h in cols h*hd..<(h+1)*hd.
/// A segment without a prefix reads its keys in place; one with a prefix first gathers the prefix's keys and
/// values and its own into one [prefix + rows, hd] block per KV head. Forward is parallel over (segment, query
/// head); backward over (segment, KV head), so the query heads of a group add their dK and dV one after
/// another into the same rows. What a segment adds to its prefix's dK and dV is kept apart and added after,
/// segment by segment in order: the same bits whatever the threads.
public func causalAttention(_ qkv: Tensor, layout: AttentionLayout, heads: Int, kvHeads: Int? = nil) throws -> Tensor {
    let kv = kvHeads ?? heads, n = layout.rows
    try check(heads > 0 && kv > 0 && heads % kv == 0,
              "causalAttention needs positive heads and kvHeads dividing heads, got \(heads), \(kv)")
    try check(n > 0 && qkv.rank == 2 && qkv.shape[0] == n && qkv.shape[1] % (heads + 2 * kv) == 0,
              "causalAttention needs qkv [rows, (heads + 2*kvHeads)*hd] = [\(n), (\(heads) + 2*\(kv))*hd], got \(qkv.shape)")
    try layout.validate(rows: n)
    let ld = qkv.shape[1], hd = ld / (heads + 2 * kv), d = heads * hd, group = heads / kv
    try check(hd > 0, "causalAttention: head size is 0 for qkv \(qkv.shape) and heads=\(heads)")
    let segments = layout.segments, longest = layout.longestSequence
    let out = Tensor(uninitialized: [n, d])      // every (row, head) block is written
    let lse = Tensor(uninitialized: [heads, n])  // lse[h, row]
    // Columns of KV head g's keys and values in a qkv row.
    func columns(_ g: Int) -> (k: Int, v: Int) { (d + g * hd, d + (kv + g) * hd) }
    // The keys (or values, at `column`) a prefixed segment sees, prefix first: -> to [prefix + rows, hd].
    func gather(_ s: AttentionLayout.Segment, _ column: Int, into to: UnsafeMutablePointer<Float>) {
        var i = 0
        for range in [s.prefix ?? 0..<0, s.rows] {
            for r in range { (to + i * hd).update(from: qkv.data + r * ld + column, count: hd); i += 1 }
        }
    }
    Kernels.withSingleThreadedBLAS {
        parallelFor(segments.count * heads) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: Kernels.attentionScratchCount(keys: longest))
            let kvBlock = UnsafeMutablePointer<Float>.allocate(capacity: 2 * longest * hd)
            defer { scratch.deallocate(); kvBlock.deallocate() }
            for job in range {
                let s = segments[job / heads], h = job % heads, col = columns(h / group), r0 = s.rows.lowerBound
                var k = UnsafePointer(qkv.data + r0 * ld + col.k), v = UnsafePointer(qkv.data + r0 * ld + col.v), ldk = ld
                if s.prefix != nil {
                    gather(s, col.k, into: kvBlock); gather(s, col.v, into: kvBlock + longest * hd)
                    k = UnsafePointer(kvBlock); v = UnsafePointer(kvBlock + longest * hd); ldk = hd
                }
                Kernels.attentionHead(q: qkv.data + r0 * ld + h * hd, ldq: ld, k: k, ldk: ldk, v: v, ldv: ldk,
                                      out: out.data + r0 * d + h * hd, ldo: d, queries: s.rows.count,
                                      queryStart: s.prefix?.count ?? 0, headDim: hd, lse: lse.data + h * n + r0,
                                      scratch: scratch)
            }
        }
    }
    return Tensor.record(out, inputs: [qkv]) { out in
        // Buffers read through their tensors here, so the closure keeps them alive.
        let g = out.grad!, (dx, beta) = qkv.gradForFullWrite(), x = qkv.data, o = out.data, l = lse.data
        // Each prefixed segment's dK and dV for its prefix rows: [KV head][k, v][prefix, hd] at its offset.
        var pendingAt = [Int](repeating: 0, count: segments.count), pendingCount = 0
        for (i, s) in segments.enumerated() {
            pendingAt[i] = pendingCount
            pendingCount += kv * 2 * (s.prefix?.count ?? 0) * hd
        }
        let pending = UnsafeMutablePointer<Float>.allocate(capacity: max(1, pendingCount))
        defer { pending.deallocate() }
        Kernels.withSingleThreadedBLAS {
            parallelFor(segments.count * kv) { range in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * Kernels.attentionScratchCount(keys: longest))
                let block = UnsafeMutablePointer<Float>.allocate(capacity: 4 * longest * hd)   // k, v, dk, dv
                defer { scratch.deallocate(); block.deallocate() }
                for job in range {
                    let si = job / kv, gi = job % kv, s = segments[si], col = columns(gi), r0 = s.rows.lowerBound
                    let start = s.prefix?.count ?? 0
                    let kb = block, vb = block + longest * hd, dkb = block + 2 * longest * hd, dvb = block + 3 * longest * hd
                    if s.prefix != nil { gather(s, col.k, into: kb); gather(s, col.v, into: vb) }
                    // The group's first query head stores (or adds, per beta) dK and dV; the others add.
                    for j in 0..<group {
                        let h = gi * group + j
                        let inPlace = s.prefix == nil
                        let k = inPlace ? UnsafePointer(x + r0 * ld + col.k) : UnsafePointer(kb)
                        let v = inPlace ? UnsafePointer(x + r0 * ld + col.v) : UnsafePointer(vb)
                        let dk = inPlace ? dx + r0 * ld + col.k : dkb, dv = inPlace ? dx + r0 * ld + col.v : dvb
                        let ldk = inPlace ? ld : hd
                        let betaKV: Float = j > 0 ? 1 : (inPlace ? beta : 0)
                        Kernels.attentionHeadBackward(q: x + r0 * ld + h * hd, ldq: ld, k: k, v: v, ldk: ldk,
                                                      o: o + r0 * d + h * hd, dO: g + r0 * d + h * hd, ldo: d,
                                                      lse: l + h * n + r0, dq: dx + r0 * ld + h * hd, dk: dk, dv: dv,
                                                      betaQ: beta, betaKV: betaKV, queries: s.rows.count,
                                                      queryStart: start, headDim: hd, scratch: scratch)
                    }
                    guard s.prefix != nil else { continue }
                    // Own rows into dx (stored or added, per beta); prefix rows kept for the ordered pass below.
                    for i in 0..<s.rows.count {
                        let row = dx + (r0 + i) * ld, kg = dkb + (start + i) * hd, vg = dvb + (start + i) * hd
                        if beta == 0 {
                            (row + col.k).update(from: kg, count: hd); (row + col.v).update(from: vg, count: hd)
                        } else {
                            Kernels.add(row + col.k, kg, out: row + col.k, count: hd)
                            Kernels.add(row + col.v, vg, out: row + col.v, count: hd)
                        }
                    }
                    let kept = pending + pendingAt[si] + gi * 2 * start * hd
                    kept.update(from: dkb, count: start * hd)
                    (kept + start * hd).update(from: dvb, count: start * hd)
                }
            }
        }
        // The prefix rows were written by their own segment above; add what each later segment gave them.
        for (si, s) in segments.enumerated() {
            guard let p = s.prefix else { continue }
            for gi in 0..<kv {
                let col = columns(gi), kept = pending + pendingAt[si] + gi * 2 * p.count * hd
                for (i, r) in p.enumerated() {
                    let row = dx + r * ld
                    Kernels.add(row + col.k, kept + i * hd, out: row + col.k, count: hd)
                    Kernels.add(row + col.v, kept + (p.count + i) * hd, out: row + col.v, count: hd)
                }
            }
        }
    }
}
