/// A floating-point storage format that values can be rounded to while they stay `Float`: how an inference
/// engine that keeps weights or its KV cache in bf16 or fp16 sees the numbers a trainer keeps in fp32.
/// Rounding is round-to-nearest, ties to even (what a hardware conversion does).
public enum NumberFormat: String, Codable, CaseIterable, Sendable {
    /// No rounding.
    case fp32
    /// bfloat16: fp32's 8 exponent bits, 7 mantissa bits (relative spacing 2^-8 = 0.4%).
    case bf16
    /// IEEE half: 5 exponent bits, 10 mantissa bits (relative spacing 2^-11); beyond 65504 it overflows to inf,
    /// below 2^-14 it is subnormal (spacing 2^-24).
    case fp16

    /// x rounded to the nearest value of this format. NaN and infinities stay as they are.
    @inline(__always)
    public func round(_ x: Float) -> Float {
        guard x.isFinite else { return x }
        switch self {
        case .fp32:
            return x
        case .bf16:
            let bits = x.bitPattern
            return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
        case .fp16:
            let a = abs(x)
            if a >= 65520 { return x < 0 ? -.infinity : .infinity }   // 65520 is the tie above 65504: rounds to inf
            if a < 0x1p-14 { return (x * 0x1p24).rounded(.toNearestOrEven) * 0x1p-24 }   // subnormal range
            let bits = x.bitPattern
            return Float(bitPattern: (bits &+ 0xFFF &+ ((bits >> 13) & 1)) & ~UInt32(0x1FFF))
        }
    }

    /// Rounds `count` values in place (nothing to do for fp32).
    public func round(_ p: UnsafeMutablePointer<Float>, count: Int) {
        if self == .fp32 { return }
        for i in 0..<count { p[i] = round(p[i]) }
    }
}
