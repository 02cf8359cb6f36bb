import Foundation
import Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if _endian(big)
#error("GGUFWriter writes little-endian fields by copying host values")
#endif

/// Writes GGUF version 3 files with F32 or F16 tensors (the format is described in GGUF.swift).
///
/// Metadata values keep the type of their `GGUFValue` case, so write what llama.cpp expects: `.u32` for
/// `general.alignment`, `<arch>.context_length`, `.block_count`, `.embedding_length`, `.attention.head_count`,
/// `tokenizer.ggml.bos_token_id` and the other token ids; `.f32` for `<arch>.rope.freq_base` and
/// `.attention.layer_norm_rms_epsilon`; `.string` for `general.architecture` and `tokenizer.ggml.model`;
/// `.array` of `.string` for `tokenizer.ggml.tokens` and `.merges`, of `.i32` for `tokenizer.ggml.token_type`,
/// of `.f32` for `tokenizer.ggml.scores` (llama.cpp reads those arrays as raw int32 / float memory).
/// An array's elements must all have the same case; an empty array is written as an array of u8.
///
/// Tensors are given in Hugging Face order (`dims` = [rows, cols]) and stored with GGUF dims reversed, each at a
/// multiple of the alignment: 32, or `general.alignment` when the metadata sets it (a power of 2, as `.u32`).
/// Names are at most 63 bytes (llama.cpp's GGML_MAX_NAME). Atomic: the bytes go to a temporary file in the same
/// directory, which is fsynced and renamed over `url`.
///
/// Checked once by hand: gguf-py 0.19's GGUFReader reads a file written by this writer (metadata of every
/// type, F32 and F16 tensors) with the same values and types (see reference/make_gguf_fixtures.py --check).
public enum GGUFWriter {
    public static func write(to url: URL, metadata: [(String, GGUFValue)],
                             tensors: [(name: String, dims: [Int], type: GGMLType, data: UnsafeBufferPointer<Float>)]) throws {
        func fail(_ why: String) -> TensorError { TensorError("GGUFWriter \(url.path): \(why)") }

        // Header and metadata
        var header: [UInt8] = []
        append(&header, Array("GGUF".utf8))
        append(&header, UInt32(3))
        append(&header, UInt64(tensors.count))
        append(&header, UInt64(metadata.count))
        var keys = Set<String>()
        var alignment = 32
        for (key, value) in metadata {
            guard keys.insert(key).inserted else { throw fail("duplicate key '\(key)'") }
            if key == "general.alignment" {
                guard case .u32(let a) = value, a != 0, a & (a - 1) == 0, a <= 1 << 30 else {
                    throw fail("general.alignment must be a .u32 power of 2 (at most 2^30), got \(value)")
                }
                alignment = Int(a)
            }
            appendString(&header, key)
            append(&header, value.typeID)
            try appendValue(&header, value, key, fail)
        }

        // Tensor infos: offsets relative to the data section, each padded to the alignment
        var names = Set<String>()
        var dataSize = 0
        for t in tensors {
            guard t.type == .f32 || t.type == .f16 else {
                throw fail("tensor '\(t.name)' has type \(t.type.name); the writer writes F32 and F16")
            }
            guard t.name.utf8.count <= GGUFFile.maxTensorNameBytes else {
                throw fail("tensor name '\(t.name)' is longer than \(GGUFFile.maxTensorNameBytes) bytes")
            }
            guard names.insert(t.name).inserted else { throw fail("duplicate tensor name '\(t.name)'") }
            guard (1...GGUFFile.maxDims).contains(t.dims.count), t.dims.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(t.name)' has dims \(t.dims) (1 to \(GGUFFile.maxDims) sizes >= 0)")
            }
            guard let n = checkedProduct(t.dims[...]) else { throw fail("tensor '\(t.name)' dims \(t.dims) overflow") }
            guard n == t.data.count else {
                throw fail("tensor '\(t.name)' has dims \(t.dims) but \(t.data.count) values")
            }
            appendString(&header, t.name)
            append(&header, UInt32(t.dims.count))
            for d in t.dims.reversed() { append(&header, UInt64(d)) }   // GGUF order: contiguous first
            append(&header, t.type.rawValue)
            append(&header, UInt64(dataSize))
            dataSize += padded(n * t.type.bytesPerBlock, alignment)
        }
        header += [UInt8](repeating: 0, count: padded(header.count, alignment) - header.count)

        // File: header, then each tensor and its padding
        try AtomicFile.write(to: url, label: "GGUFWriter \(url.path)") { file in
            try header.withUnsafeBytes { try file.write($0) }
            let zeros = [UInt8](repeating: 0, count: alignment)
            var halves = [UInt16](repeating: 0, count: 1 << 16)
            for t in tensors {
                if t.type == .f32 {
                    if t.data.count > 0 { try file.write(UnsafeRawBufferPointer(t.data)) }
                } else {
                    var start = 0
                    while start < t.data.count {
                        let n = min(halves.count, t.data.count - start)
                        for i in 0..<n { halves[i] = floatToHalf(t.data[start + i]) }
                        try halves.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[0..<(2 * n)])) }
                        start += n
                    }
                }
                let size = t.data.count * t.type.bytesPerBlock
                try zeros.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[0..<(padded(size, alignment) - size)])) }
            }
        }
    }

    private static func padded(_ n: Int, _ alignment: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    private static func append<T: FixedWidthInteger>(_ out: inout [UInt8], _ x: T) {
        withUnsafeBytes(of: x.littleEndian) { out += $0 }
    }

    private static func append(_ out: inout [UInt8], _ bytes: [UInt8]) { out += bytes }

    private static func appendString(_ out: inout [UInt8], _ s: String) {
        append(&out, UInt64(s.utf8.count))
        out += s.utf8
    }

    /// The value's bytes without its type id (an array: element type, count, elements).
    private static func appendValue(_ out: inout [UInt8], _ value: GGUFValue, _ key: String,
                                    _ fail: (String) -> TensorError) throws {
        switch value {
        case .u8(let v): append(&out, v)
        case .i8(let v): append(&out, v)
        case .u16(let v): append(&out, v)
        case .i16(let v): append(&out, v)
        case .u32(let v): append(&out, v)
        case .i32(let v): append(&out, v)
        case .f32(let v): append(&out, v.bitPattern)
        case .bool(let v): append(&out, UInt8(v ? 1 : 0))
        case .string(let s): appendString(&out, s)
        case .uint(let v): append(&out, v)
        case .int(let v): append(&out, v)
        case .float(let v): append(&out, v.bitPattern)
        case .array(let items):
            let elementType = items.first?.typeID ?? 0
            guard items.allSatisfy({ $0.typeID == elementType }) else {
                throw fail("metadata '\(key)': an array's elements must all have one type, got "
                           + Set(items.map { GGUFValue.typeNames[Int($0.typeID)] }).sorted().joined(separator: ", "))
            }
            append(&out, elementType)
            append(&out, UInt64(items.count))
            for item in items { try appendValue(&out, item, key, fail) }
        }
    }
}

/// Float -> IEEE half, rounded to nearest even like the F16C instruction and numpy: values from 65520 up become
/// infinity, tiny ones subnormal or zero; NaN stays NaN (quiet, with the top payload bits).
func floatToHalf(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let magnitude = bits & 0x7FFF_FFFF
    if magnitude > 0x7F80_0000 {                                  // NaN
        return sign | 0x7E00 | UInt16(truncatingIfNeeded: (magnitude >> 13) & 0x3FF)
    }
    if magnitude >= 0x4780_0000 { return sign | 0x7C00 }         // >= 65536 (or infinity): infinity
    if magnitude < 0x3880_0000 {                                  // below 2^-14: a subnormal half (or zero)
        // value × 2^24 is the subnormal's integer mantissa; the product is exact, rounding it is the only rounding
        let m = (Float(bitPattern: magnitude) * 0x1p24).rounded(.toNearestOrEven)
        return sign | UInt16(m)                                   // 1024 is the smallest normal, encoded the same
    }
    // Normal: rebias the exponent, keep the top 10 mantissa bits, round the 13 dropped bits to nearest even.
    // A carry out of the mantissa correctly bumps the exponent (up to infinity at 65520).
    var h = ((magnitude >> 13) - ((127 - 15) << 10))
    let rest = magnitude & 0x1FFF
    if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) { h += 1 }
    return sign | UInt16(truncatingIfNeeded: h)
}
