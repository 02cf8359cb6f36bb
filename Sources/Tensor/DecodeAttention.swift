import Foundation
import COpenBLAS

/// One query against a KV cache row range, for decode steps. With a single query an sgemm has nothing to
/// reuse, and a plain dot/expf/axpy loop is latency-bound (one FMA chain per key, a load+store of the output
/// per key). Here scores are four independent dot chains at a time, the softmax uses the SIMD `fastExp`
/// (the same exp the training attention uses), and the weighted sum of V keeps 64 output lanes in registers
/// across all keys (a decode step is memory-bound: each K and V row is read exactly once, in order).
extension Kernels {
    /// out[hd] = sum_t softmax_t(q·k_t / sqrt(hd)) v_t over t in 0..<count.
    /// q: [hd]; keys, values: [count, hd] contiguous; scores: scratch of at least `count` floats.
    public static func decodeAttention(q: UnsafePointer<Float>, keys: UnsafePointer<Float>,
                                       values: UnsafePointer<Float>, count len: Int, headDim hd: Int,
                                       out: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>) {
        if len <= 0 { out.update(repeating: 0, count: hd); return }
        let scale = 1 / Float(hd).squareRoot()
        // scores[t] = q·k_t * scale, four keys per pass (independent FMA chains).
        var t = 0
        while t + 4 <= len {
            let k0 = keys + t * hd, k1 = k0 + hd, k2 = k1 + hd, k3 = k2 + hd
            prefetchRows(k0 + prefetchKeys * hd, rows: 4, headDim: hd)
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var j = 0
            while j + 8 <= hd {
                let qv = load8(q + j)
                a0.addProduct(qv, load8(k0 + j)); a1.addProduct(qv, load8(k1 + j))
                a2.addProduct(qv, load8(k2 + j)); a3.addProduct(qv, load8(k3 + j))
                j += 8
            }
            var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
            while j < hd { s0 += q[j] * k0[j]; s1 += q[j] * k1[j]; s2 += q[j] * k2[j]; s3 += q[j] * k3[j]; j += 1 }
            scores[t] = s0 * scale; scores[t + 1] = s1 * scale; scores[t + 2] = s2 * scale; scores[t + 3] = s3 * scale
            t += 4
        }
        while t < len {
            let kt = keys + t * hd
            var a = SIMD8<Float>()
            var j = 0
            while j + 8 <= hd { a.addProduct(load8(q + j), load8(kt + j)); j += 8 }
            var s = a.sum()
            while j < hd { s += q[j] * kt[j]; j += 1 }
            scores[t] = s * scale
            t += 1
        }
        prefetchRows(values, rows: min(len, prefetchKeys), headDim: hd)   // V's first rows load during the softmax
        // Softmax numerators in place; the 1/sum is applied once to the output.
        let m = rowMax(scores, len)
        expShiftScale(scores, scores, len, shift: m, scale: 1)
        var sv = SIMD8<Float>()
        t = 0
        while t + 8 <= len { sv += load8(scores + t); t += 8 }
        var sum = sv.sum()
        while t < len { sum += scores[t]; t += 1 }
        let inv = 1 / sum
        // out = inv * sum_t p_t v_t, 64 columns (8 accumulators) per pass over V: one sequential stream.
        var j0 = 0
        while j0 + 64 <= hd {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            var v = values + j0
            for t in 0..<len {
                prefetchRows(v + prefetchKeys * hd, rows: 1, headDim: 64)   // this pass's 64 columns of row t + 8
                let p = SIMD8<Float>(repeating: scores[t])
                a0.addProduct(p, load8(v)); a1.addProduct(p, load8(v + 8))
                a2.addProduct(p, load8(v + 16)); a3.addProduct(p, load8(v + 24))
                a4.addProduct(p, load8(v + 32)); a5.addProduct(p, load8(v + 40))
                a6.addProduct(p, load8(v + 48)); a7.addProduct(p, load8(v + 56))
                v += hd
            }
            store8(a0 * inv, out + j0); store8(a1 * inv, out + j0 + 8)
            store8(a2 * inv, out + j0 + 16); store8(a3 * inv, out + j0 + 24)
            store8(a4 * inv, out + j0 + 32); store8(a5 * inv, out + j0 + 40)
            store8(a6 * inv, out + j0 + 48); store8(a7 * inv, out + j0 + 56)
            j0 += 64
        }
        // Narrower heads: 32 columns at a time, two keys per step (8 accumulators).
        while j0 + 32 <= hd {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
            var v = values + j0
            t = 0
            while t + 2 <= len {
                let p = SIMD8<Float>(repeating: scores[t]), r = SIMD8<Float>(repeating: scores[t + 1])
                a0.addProduct(p, load8(v)); a1.addProduct(p, load8(v + 8))
                a2.addProduct(p, load8(v + 16)); a3.addProduct(p, load8(v + 24))
                b0.addProduct(r, load8(v + hd)); b1.addProduct(r, load8(v + hd + 8))
                b2.addProduct(r, load8(v + hd + 16)); b3.addProduct(r, load8(v + hd + 24))
                v += 2 * hd; t += 2
            }
            if t < len {
                let p = SIMD8<Float>(repeating: scores[t])
                a0.addProduct(p, load8(v)); a1.addProduct(p, load8(v + 8))
                a2.addProduct(p, load8(v + 16)); a3.addProduct(p, load8(v + 24))
            }
            store8((a0 + b0) * inv, out + j0); store8((a1 + b1) * inv, out + j0 + 8)
            store8((a2 + b2) * inv, out + j0 + 16); store8((a3 + b3) * inv, out + j0 + 24)
            j0 += 32
        }
        while j0 + 8 <= hd {
            var a = SIMD8<Float>()
            for t in 0..<len { a.addProduct(SIMD8(repeating: scores[t]), load8(values + t * hd + j0)) }
            store8(a * inv, out + j0)
            j0 += 8
        }
        while j0 < hd {
            var s: Float = 0
            for t in 0..<len { s += scores[t] * values[t * hd + j0] }
            out[j0] = s * inv
            j0 += 1
        }
    }
}

/// Prefetches rows x hd floats from p, one cache line (16 floats) at a time. Prefetching past the end of
/// the cache is harmless: a prefetch never faults.
@inline(__always)
private func prefetchRows(_ p: UnsafePointer<Float>, rows: Int, headDim hd: Int) {
    var f = 0
    while f < rows * hd { tir_prefetch(p + f); f += 16 }
}

/// How many keys (rows of K or V) ahead the loops prefetch. The hardware prefetcher stops at each 4 KB
/// page, and one head's keys span several (docs/PERFORMANCE.md, decoding).
private let prefetchKeys = 8

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}
