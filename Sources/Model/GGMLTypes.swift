import Foundation

#if _endian(big)
#error("the GGML block kernels read little-endian fields with plain loads")
#endif

/// The tensor types of ggml, with the ids GGUF stores (`enum ggml_type` in ggml.h). Every id ggml has defined
/// is here, so a file can be opened and its tensors sized and named whatever their types; `canDequantize` says
/// which ones `dequantizeBlocks` turns into fp32.
///
/// Quantized types store blocks of `blockSize` consecutive elements of a row (dims[0] is a whole number of
/// blocks) in `bytesPerBlock` bytes. The kernels below follow llama.cpp's `dequantize_row_*` (ggml-quants.c)
/// formula by formula; `d`, `m`, `dmin` are fp16. Every product in them is exact in fp32 (an fp16 scale has 11
/// significant bits, the integer factors at most 13 together), so an element is rounded at most once, in the
/// final `+ m` / `- m1`, and the results are bit-identical to llama.cpp's and gguf-py's.
public enum GGMLType: UInt32, CaseIterable, Sendable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    /// The types `dequantizeBlocks` converts, in the order error messages list them.
    public static let dequantizable: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    public var canDequantize: Bool { GGMLType.dequantizable.contains(self) }

    /// ggml's name ("Q4_K"), for messages.
    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q8_1: return "Q8_1"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .q8_K: return "Q8_K"
        case .iq2_xxs: return "IQ2_XXS"
        case .iq2_xs: return "IQ2_XS"
        case .iq3_xxs: return "IQ3_XXS"
        case .iq1_s: return "IQ1_S"
        case .iq4_nl: return "IQ4_NL"
        case .iq3_s: return "IQ3_S"
        case .iq2_s: return "IQ2_S"
        case .iq4_xs: return "IQ4_XS"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .f64: return "F64"
        case .iq1_m: return "IQ1_M"
        case .bf16: return "BF16"
        case .tq1_0: return "TQ1_0"
        case .tq2_0: return "TQ2_0"
        case .mxfp4: return "MXFP4"
        }
    }

    /// Elements per block (ggml's `blck_size`).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .i8, .i16, .i32, .i64, .f64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_xxs, .iq2_xs, .iq3_xxs, .iq1_s, .iq3_s, .iq2_s,
             .iq4_xs, .iq1_m, .tq1_0, .tq2_0: return 256
        }
    }

    /// Bytes per block (ggml's `type_size`, the `sizeof(block_*)` of ggml-common.h).
    public var bytesPerBlock: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18            // d, qs[16]
        case .q4_1: return 20            // d, m, qs[16]
        case .q5_0: return 22            // d, qh[4], qs[16]
        case .q5_1: return 24            // d, m, qh[4], qs[16]
        case .q8_0: return 34            // d, qs[32]
        case .q8_1: return 36            // d, s, qs[32]
        case .q2_K: return 84            // scales[16], qs[64], d, dmin
        case .q3_K: return 110           // hmask[32], qs[64], scales[12], d
        case .q4_K: return 144           // d, dmin, scales[12], qs[128]
        case .q5_K: return 176           // d, dmin, scales[12], qh[32], qs[128]
        case .q6_K: return 210           // ql[128], qh[64], scales[16], d
        case .q8_K: return 292           // f32 d, qs[256], i16 bsums[16]
        case .iq2_xxs: return 66
        case .iq2_xs: return 74
        case .iq3_xxs: return 98
        case .iq1_s: return 50
        case .iq4_nl: return 18
        case .iq3_s: return 110
        case .iq2_s: return 82
        case .iq4_xs: return 136
        case .i8: return 1
        case .i16: return 2
        case .i32: return 4
        case .i64, .f64: return 8
        case .iq1_m: return 56
        case .tq1_0: return 54
        case .tq2_0: return 66
        case .mxfp4: return 17
        }
    }

    /// Dequantizes `blocks` consecutive blocks starting at `x` into `blocks * blockSize` floats at `y`.
    /// The caller has checked that the bytes exist and that the type can be dequantized (`canDequantize`);
    /// for other types this writes nothing.
    func dequantizeBlocks(_ x: UnsafeRawPointer, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        let n = blockSize, size = bytesPerBlock
        switch self {
        case .f32: UnsafeMutableRawPointer(y).copyMemory(from: x, byteCount: 4 * blocks)
        case .f16: for i in 0..<blocks { y[i] = fp16(x, 2 * i) }
        case .bf16: for i in 0..<blocks { y[i] = Float(bitPattern: UInt32(x.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        case .q4_0: for b in 0..<blocks { dequantizeQ4_0(x + b * size, y + b * n) }
        case .q4_1: for b in 0..<blocks { dequantizeQ4_1(x + b * size, y + b * n) }
        case .q5_0: for b in 0..<blocks { dequantizeQ5_0(x + b * size, y + b * n) }
        case .q5_1: for b in 0..<blocks { dequantizeQ5_1(x + b * size, y + b * n) }
        case .q8_0: for b in 0..<blocks { dequantizeQ8_0(x + b * size, y + b * n) }
        case .q4_K: for b in 0..<blocks { dequantizeQ4_K(x + b * size, y + b * n) }
        case .q5_K: for b in 0..<blocks { dequantizeQ5_K(x + b * size, y + b * n) }
        case .q6_K: for b in 0..<blocks { dequantizeQ6_K(x + b * size, y + b * n) }
        default: break
        }
    }
}

// MARK: Block kernels (one block each: x = the block's bytes, y = its blockSize outputs)

/// IEEE half at byte `offset` of `p` -> Float, exact (zeros, subnormals, infinities; NaNs keep their payload
/// and come out quiet, as from the F16C instruction llama.cpp uses).
@inline(__always)
func fp16(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    halfToFloat(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let magnitude = UInt32(h & 0x7FFF)
    if magnitude < 0x0400 {                                 // zero or subnormal: mantissa × 2^-24, exact
        return Float(bitPattern: sign | (Float(magnitude) * 0x1p-24).bitPattern)
    }
    if magnitude >= 0x7C00 {                                // infinity, or NaN (payload kept, made quiet)
        let payload = (magnitude & 0x3FF) << 13
        return Float(bitPattern: sign | 0x7F80_0000 | payload | (payload != 0 ? 0x40_0000 : 0))
    }
    return Float(bitPattern: sign | ((magnitude << 13) + ((127 - 15) << 23)))   // rebias the exponent
}

/// Q4_0, 32 elements in 18 bytes: `d, qs[16]`. y[j] = ((qs[j] & 15) - 8) d, y[j+16] = ((qs[j] >> 4) - 8) d.
@inline(__always)
func dequantizeQ4_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = fp16(x, 0)
    let qs = x.assumingMemoryBound(to: UInt8.self) + 2
    for j in 0..<16 {
        y[j] = Float(Int32(qs[j] & 15) - 8) * d
        y[j + 16] = Float(Int32(qs[j] >> 4) - 8) * d
    }
}

/// Q4_1, 32 in 20 bytes: `d, m, qs[16]`. y[j] = (qs[j] & 15) d + m, y[j+16] = (qs[j] >> 4) d + m.
@inline(__always)
func dequantizeQ4_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = fp16(x, 0), m = fp16(x, 2)
    let qs = x.assumingMemoryBound(to: UInt8.self) + 4
    for j in 0..<16 {
        y[j] = Float(qs[j] & 15) * d + m
        y[j + 16] = Float(qs[j] >> 4) * d + m
    }
}

/// Q5_0, 32 in 22 bytes: `d, u32 qh, qs[16]`; bit j of qh is the fifth bit of element j.
/// y[j] = (((qs[j] & 15) | qh_j << 4) - 16) d, y[j+16] = (((qs[j] >> 4) | qh_(j+16) << 4) - 16) d.
@inline(__always)
func dequantizeQ5_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = fp16(x, 0)
    let qh = x.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
    let qs = x.assumingMemoryBound(to: UInt8.self) + 6
    for j in 0..<16 {
        let h0 = Int32((qh >> UInt32(j)) << 4 & 0x10)
        let h1 = Int32((qh >> UInt32(j + 12)) & 0x10)
        y[j] = Float((Int32(qs[j] & 15) | h0) - 16) * d
        y[j + 16] = Float((Int32(qs[j] >> 4) | h1) - 16) * d
    }
}

/// Q5_1, 32 in 24 bytes: `d, m, u32 qh, qs[16]`. Like Q5_0 without the -16, plus m.
@inline(__always)
func dequantizeQ5_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = fp16(x, 0), m = fp16(x, 2)
    let qh = x.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
    let qs = x.assumingMemoryBound(to: UInt8.self) + 8
    for j in 0..<16 {
        let h0 = UInt32((qh >> UInt32(j)) << 4 & 0x10)
        let h1 = UInt32((qh >> UInt32(j + 12)) & 0x10)
        y[j] = Float(UInt32(qs[j] & 15) | h0) * d + m
        y[j + 16] = Float(UInt32(qs[j] >> 4) | h1) * d + m
    }
}

/// Q8_0, 32 in 34 bytes: `d, i8 qs[32]`. y[j] = qs[j] d.
@inline(__always)
func dequantizeQ8_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = fp16(x, 0)
    let qs = UnsafeRawPointer(x + 2).assumingMemoryBound(to: Int8.self)
    for j in 0..<32 { y[j] = Float(qs[j]) * d }
}

/// The 6-bit scale and min of sub-block j (0..<8) of a Q4_K / Q5_K block (llama.cpp's `get_scale_min_k4`):
/// `s` is the 12-byte scales field. Sub-blocks 0-3 keep both in the low 6 bits of s[j], s[j+4]; sub-blocks
/// 4-7 keep their low 4 bits in s[j+4] and their top 2 bits in the top bits of s[j-4] (scale), s[j] (min).
@inline(__always)
func scaleMinK4(_ j: Int, _ s: UnsafePointer<UInt8>) -> (scale: Float, min: Float) {
    if j < 4 {
        return (Float(s[j] & 63), Float(s[j + 4] & 63))
    }
    return (Float((s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4), Float((s[j + 4] >> 4) | (s[j] >> 6) << 4))
}

/// Q4_K, 256 in 144 bytes: `d, dmin, scales[12], qs[128]`: 8 sub-blocks of 32 with 6-bit scales and mins.
/// For c = 0..<4 (q = qs + 32c): y[64c + l] = d sc(2c) (q[l] & 15) - dmin m(2c),
/// y[64c + 32 + l] = d sc(2c+1) (q[l] >> 4) - dmin m(2c+1).
@inline(__always)
func dequantizeQ4_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = fp16(x, 0), dmin = fp16(x, 2)
    let scales = x.assumingMemoryBound(to: UInt8.self) + 4
    let qs = x.assumingMemoryBound(to: UInt8.self) + 16
    for c in 0..<4 {
        let (sc1, m1) = scaleMinK4(2 * c, scales), (sc2, m2) = scaleMinK4(2 * c + 1, scales)
        let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
        let q = qs + 32 * c, out = y + 64 * c
        for l in 0..<32 {
            out[l] = d1 * Float(q[l] & 0xF) - min1
            out[l + 32] = d2 * Float(q[l] >> 4) - min2
        }
    }
}

/// Q5_K, 256 in 176 bytes: `d, dmin, scales[12], qh[32], qs[128]`. Q4_K plus a fifth bit: for sub-block pair c,
/// bit 2c of qh[l] belongs to y[64c + l] and bit 2c+1 to y[64c + 32 + l].
@inline(__always)
func dequantizeQ5_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = fp16(x, 0), dmin = fp16(x, 2)
    let scales = x.assumingMemoryBound(to: UInt8.self) + 4
    let qh = x.assumingMemoryBound(to: UInt8.self) + 16
    let qs = x.assumingMemoryBound(to: UInt8.self) + 48
    for c in 0..<4 {
        let (sc1, m1) = scaleMinK4(2 * c, scales), (sc2, m2) = scaleMinK4(2 * c + 1, scales)
        let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
        let u1 = UInt8(1) << (2 * c), u2 = UInt8(2) << (2 * c)
        let q = qs + 32 * c, out = y + 64 * c
        for l in 0..<32 {
            out[l] = d1 * Float((q[l] & 0xF) + (qh[l] & u1 != 0 ? 16 : 0)) - min1
            out[l + 32] = d2 * Float((q[l] >> 4) + (qh[l] & u2 != 0 ? 16 : 0)) - min2
        }
    }
}

/// Q6_K, 256 in 210 bytes: `ql[128], qh[64], i8 scales[16], d` (d last): 16 sub-blocks of 16, 6-bit quants
/// (4 low bits in ql, 2 high bits in qh) minus 32. For each half h (ql += 64h, qh += 32h, sc += 8h), l < 32,
/// k = 0..<4: y[128h + 32k + l] = d sc[l/16 + 2k] (((ql[l + 32(k & 1)] >> 4(k >> 1)) & 15 | ((qh[l] >> 2k) & 3) << 4) - 32).
@inline(__always)
func dequantizeQ6_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = fp16(x, 208)
    let bytes = x.assumingMemoryBound(to: UInt8.self)
    let scales = UnsafeRawPointer(x + 192).assumingMemoryBound(to: Int8.self)
    for h in 0..<2 {
        let ql = bytes + 64 * h, qh = bytes + 128 + 32 * h, sc = scales + 8 * h, out = y + 128 * h
        for l in 0..<32 {
            let s = l / 16
            let q1 = Int32((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32
            let q2 = Int32((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32
            let q3 = Int32((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32
            let q4 = Int32((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32
            out[l] = d * Float(sc[s]) * Float(q1)
            out[l + 32] = d * Float(sc[s + 2]) * Float(q2)
            out[l + 64] = d * Float(sc[s + 4]) * Float(q3)
            out[l + 96] = d * Float(sc[s + 6]) * Float(q4)
        }
    }
}
