#if arch(x86_64)
import CCPUID

/// One 16-feature x 16-row tile of x Wᵀ from a weight panel in bf16 or fp32 (used by `PanelMatrix.linear`,
/// decode steps).
///
/// Register plan (32 zmm): 16 accumulators, one per row, each holding the panel's 16 features; each weight
/// vector feeds 16 FMAs whose x operand is a broadcast from `xt` (16 rows of x transposed, [k][16]).
/// - bf16 panel: one 64-byte load per k pair gives the weights at k and k + 1 (words j: feature j, k in the low
///   half, k + 1 in the high half), widened exactly to fp32 by a shift and a mask.
/// - fp32 panel: one 64-byte load per k, the 16 features' weights as they are.
/// The panel is read front to back, `steps` loads of 64 bytes, with a prefetch 64 loads (4 KB) ahead: the
/// hardware prefetcher alone left the loads waiting. Writes tile[r * 16 + j] = sum_k xt[k * 16 + r] * W[j, k].
public func panelTile16x16(xt: UnsafePointer<Float>, panel: UnsafeRawPointer, steps: Int, bf16: Bool,
                           tile: UnsafeMutablePointer<Float>) {
    var a0 = SIMD16<Float>(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
    var a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0
    @inline(__always) func step(_ w: SIMD16<Float>, _ x: UnsafePointer<Float>) {
        a0.addProduct(w, SIMD16(repeating: x[0])); a1.addProduct(w, SIMD16(repeating: x[1]))
        a2.addProduct(w, SIMD16(repeating: x[2])); a3.addProduct(w, SIMD16(repeating: x[3]))
        a4.addProduct(w, SIMD16(repeating: x[4])); a5.addProduct(w, SIMD16(repeating: x[5]))
        a6.addProduct(w, SIMD16(repeating: x[6])); a7.addProduct(w, SIMD16(repeating: x[7]))
        a8.addProduct(w, SIMD16(repeating: x[8])); a9.addProduct(w, SIMD16(repeating: x[9]))
        a10.addProduct(w, SIMD16(repeating: x[10])); a11.addProduct(w, SIMD16(repeating: x[11]))
        a12.addProduct(w, SIMD16(repeating: x[12])); a13.addProduct(w, SIMD16(repeating: x[13]))
        a14.addProduct(w, SIMD16(repeating: x[14])); a15.addProduct(w, SIMD16(repeating: x[15]))
    }
    var x = xt
    if bf16 {
        for kp in 0..<steps {
            ccpu_prefetch(panel + kp * 64 + 4096)
            let v = panel.load(fromByteOffset: kp * 64, as: SIMD16<UInt32>.self)
            step(unsafeBitCast(v &<< 16, to: SIMD16<Float>.self), x)
            step(unsafeBitCast(v & 0xFFFF_0000, to: SIMD16<Float>.self), x + 16)
            x += 32
        }
    } else {
        for k in 0..<steps {
            ccpu_prefetch(panel + k * 64 + 4096)
            step(panel.load(fromByteOffset: k * 64, as: SIMD16<Float>.self), x)
            x += 16
        }
    }
    let t = UnsafeMutableRawPointer(tile)
    @inline(__always) func put(_ r: Int, _ a: SIMD16<Float>) { t.storeBytes(of: a, toByteOffset: r * 64, as: SIMD16<Float>.self) }
    put(0, a0); put(1, a1); put(2, a2); put(3, a3); put(4, a4); put(5, a5); put(6, a6); put(7, a7)
    put(8, a8); put(9, a9); put(10, a10); put(11, a11); put(12, a12); put(13, a13); put(14, a14); put(15, a15)
}
#endif
