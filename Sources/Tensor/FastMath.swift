import Foundation

/// Vectorized exp for softmax-style loops (attention, cross-entropy). Scalar `expf` costs ~5-10 ns per
/// call and would dominate attention; this is the Cephes expf range reduction + degree-6 polynomial on
/// 8 lanes (max relative error ~2 ulp over the clamped range). Inputs below -87.3 give ~1e-38, not 0:
/// callers that need exact zeros (causal masks) write them explicitly.
@inline(__always)
func fastExp(_ xIn: SIMD8<Float>) -> SIMD8<Float> {
    // Clamp with masks: `clamped`/`pointwiseMin` compile to scalar NaN-aware loops, `replacing` to vblendvps.
    let lo = SIMD8<Float>(repeating: -87.3), hi = SIMD8<Float>(repeating: 88.7)
    var x = xIn.replacing(with: lo, where: xIn .< lo).replacing(with: hi, where: xIn .> hi)
    // n = round(x / ln2) via the 1.5*2^23 magic number: the integer lands in the low mantissa bits.
    let magic = SIMD8<Float>(repeating: 12582912)
    let m = x * 1.44269504088896341 + magic
    let n = m - magic
    x = x - n * 0.693359375 + n * 2.12194440e-4
    var y = SIMD8<Float>(repeating: 1.9875691500e-4)
    y = y * x + 1.3981999507e-3
    y = y * x + 8.3334519073e-3
    y = y * x + 4.1665795894e-2
    y = y * x + 1.6666665459e-1
    y = y * x + 5.0000001201e-1
    y = y * (x * x) + x + 1
    // 2^n: bits of m minus bits of magic is n; shift it into the exponent field.
    let ni = unsafeBitCast(m, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let pow2 = unsafeBitCast((ni &+ 127) &<< 23, to: SIMD8<Float>.self)
    return y * pow2
}

/// Scalar twin of `fastExp` for loop tails, so a row never mixes two exp implementations.
@inline(__always)
func fastExp(_ x: Float) -> Float {
    fastExp(SIMD8<Float>(repeating: x))[0]
}

extension Kernels {
    /// Largest value of x[0..<n] (-inf when n == 0).
    @inline(__always)
    static func rowMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var mv = SIMD8<Float>(repeating: -.infinity)
        var j = 0
        while j + 8 <= n {
            let v = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
            mv.replace(with: v, where: v .> mv)
            j += 8
        }
        var m = mv.max()
        while j < n { m = max(m, x[j]); j += 1 }
        return m
    }

    /// sum_j exp(x[j] - shift) over x[0..<n], with fastExp.
    @inline(__always)
    static func expSum(_ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var j = 0
        while j + 8 <= n {
            acc += fastExp(UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self) - shift)
            j += 8
        }
        var s = acc.sum()
        while j < n { s += fastExp(x[j] - shift); j += 1 }
        return s
    }

    /// y[j] = exp(x[j] - shift) * scale for j in 0..<n (x and y may alias).
    @inline(__always)
    static func expShiftScale(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                              shift: Float, scale: Float) {
        var j = 0
        while j + 8 <= n {
            let v = fastExp(UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self) - shift) * scale
            UnsafeMutableRawPointer(y + j).storeBytes(of: v, as: SIMD8<Float>.self)
            j += 8
        }
        while j < n { y[j] = fastExp(x[j] - shift) * scale; j += 1 }
    }

    /// y[j] += exp(x[j] - shift) * scale for j in 0..<n.
    @inline(__always)
    static func expShiftScaleAdd(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                                 shift: Float, scale: Float) {
        var j = 0
        while j + 8 <= n {
            let v = fastExp(UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self) - shift) * scale
            let old = UnsafeRawPointer(y + j).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y + j).storeBytes(of: old + v, as: SIMD8<Float>.self)
            j += 8
        }
        while j < n { y[j] += fastExp(x[j] - shift) * scale; j += 1 }
    }
}
