// The kernels built for AVX-512 (here and in PanelTile.swift): Package.swift gives this module alone -target-cpu
// skylake-avx512 (the baseline of every AVX-512 CPU), whatever CPU builds it. Nothing here runs unless `Kernels.useAVX512`
// found AVX-512 at run time, so the binary still runs on AVX2-only CPUs. Keep this module to kernels called
// through that check: no globals, no initializers, nothing another module could run unguarded.
// (A module of its own also keeps the training kernels on the AVX2 target, which ran them faster.)
#if arch(x86_64)
import CCPUID
/// One 12-feature x 8-row tile of few-row x Wᵀ with 16-lane vectors (used by `Kernels.smallRowsLinear`).
///
/// Eight rows fill half a 16-lane vector, so two consecutive k share one: `xt` holds x packed as
/// xt[k/2][2r + k%2] (pairs x 16 floats), each step broadcasts the pair W[n, k], W[n, k+1] as one 64-bit
/// value (lanes w0 w1 w0 w1 ...), and at the end even + odd lanes give the row sums.
/// Writes tile[j * 8 + r] = sum_k x[r, k] W[n0 + j, k] for j < 12; features past `nb` repeat the last valid
/// row of W (real memory; the caller drops them). `w` is [*, inDim] row-major, inDim = 2 * pairs.
/// Every 8 pairs (one cache line per row) the 12 rows are prefetched 512 bytes ahead: with the hardware
/// prefetcher alone, 12 strided streams left the FMAs waiting (SmolLM2 decode 1.2x faster with it).
public func pairTile8x12(xt: UnsafePointer<Float>, pairs: Int, w: UnsafePointer<Float>, inDim: Int, n0: Int,
                         nb: Int, tile: UnsafeMutablePointer<Float>) {
    let w0 = UnsafeRawPointer(w + n0 * inDim)
    @inline(__always) func row(_ j: Int) -> UnsafeRawPointer { w0 + min(j, nb - 1) * inDim * 4 }
    let w1 = row(1), w2 = row(2), w3 = row(3), w4 = row(4), w5 = row(5)
    let w6 = row(6), w7 = row(7), w8 = row(8), w9 = row(9), w10 = row(10), w11 = row(11)
    var acc = (SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(),
               SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(),
               SIMD16<Float>(), SIMD16<Float>())
    @inline(__always) func pair(_ p: UnsafeRawPointer, _ off: Int) -> SIMD16<Float> {
        unsafeBitCast(SIMD8<UInt64>(repeating: p.loadUnaligned(fromByteOffset: off, as: UInt64.self)),
                      to: SIMD16<Float>.self)
    }
    var px = UnsafeRawPointer(xt)
    for kp in 0..<pairs {
        let xv = px.loadUnaligned(as: SIMD16<Float>.self)
        let off = kp * 8
        if kp & 7 == 0 {
            let ahead = off + 512
            ccpu_prefetch(w0 + ahead); ccpu_prefetch(w1 + ahead); ccpu_prefetch(w2 + ahead); ccpu_prefetch(w3 + ahead)
            ccpu_prefetch(w4 + ahead); ccpu_prefetch(w5 + ahead); ccpu_prefetch(w6 + ahead); ccpu_prefetch(w7 + ahead)
            ccpu_prefetch(w8 + ahead); ccpu_prefetch(w9 + ahead); ccpu_prefetch(w10 + ahead); ccpu_prefetch(w11 + ahead)
        }
        acc.0.addProduct(pair(w0, off), xv)
        acc.1.addProduct(pair(w1, off), xv)
        acc.2.addProduct(pair(w2, off), xv)
        acc.3.addProduct(pair(w3, off), xv)
        acc.4.addProduct(pair(w4, off), xv)
        acc.5.addProduct(pair(w5, off), xv)
        acc.6.addProduct(pair(w6, off), xv)
        acc.7.addProduct(pair(w7, off), xv)
        acc.8.addProduct(pair(w8, off), xv)
        acc.9.addProduct(pair(w9, off), xv)
        acc.10.addProduct(pair(w10, off), xv)
        acc.11.addProduct(pair(w11, off), xv)
        px += 64
    }
    let t = UnsafeMutableRawPointer(tile)
    @inline(__always) func put(_ j: Int, _ a: SIMD16<Float>) {
        t.storeBytes(of: a.evenHalf + a.oddHalf, toByteOffset: j * 32, as: SIMD8<Float>.self)
    }
    put(0, acc.0); put(1, acc.1); put(2, acc.2); put(3, acc.3); put(4, acc.4); put(5, acc.5)
    put(6, acc.6); put(7, acc.7); put(8, acc.8); put(9, acc.9); put(10, acc.10); put(11, acc.11)
}
#endif
