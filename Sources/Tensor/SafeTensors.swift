import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if _endian(big)
#error("SafeTensors reads and writes little-endian data by copying raw host floats")
#endif

/// The safetensors file format (Hugging Face):
///
///     [8 bytes: N, little-endian UInt64] [N bytes: JSON header, space-padded] [data]
///
/// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into
/// the data section) plus an optional "__metadata__" map of strings. Data is little-endian, row-major.
/// We write F32 and read F32, BF16 and F16 (converted to Float).
public enum SafeTensors {
    public struct Entry {
        public let name: String
        public let shape: [Int]
        public let values: [Float]
    }

    /// Largest header we accept (the reference implementation's limit): a corrupted length field must not
    /// make us parse or allocate gigabytes.
    static let maxHeaderBytes = 100_000_000

    // MARK: Write

    /// Writes `entries` as F32 tensors in the given order. Atomic: the bytes go to a temporary file in the
    /// same directory, which is fsynced and then renamed over `url`, so a crash never leaves half a file.
    public static func write(_ entries: [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)],
                             metadata: [String: String] = [:], to url: URL) throws {
        var seen = Set<String>()
        var header = "{"
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            header += "\"__metadata__\":{\(pairs.joined(separator: ","))}"
        }
        var offset = 0
        for (name, shape, data) in entries {
            guard !name.isEmpty, name != "__metadata__" else {
                throw TensorError("SafeTensors.write: invalid tensor name '\(name)'")
            }
            guard seen.insert(name).inserted else { throw TensorError("SafeTensors.write: duplicate tensor name '\(name)'") }
            guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == data.count else {
                throw TensorError("SafeTensors.write: tensor '\(name)' has shape \(shape) but \(data.count) values")
            }
            let end = offset + 4 * data.count
            if header.count > 1 { header += "," }
            header += "\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],"
                + "\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }   // pad with spaces so data is 8-aligned

        try AtomicFile.write(to: url, label: "SafeTensors.write") { file in
            var n = UInt64(headerBytes.count).littleEndian
            try withUnsafeBytes(of: &n) { try file.write($0) }
            try headerBytes.withUnsafeBytes { try file.write($0) }
            for e in entries where e.data.count > 0 { try file.write(UnsafeRawBufferPointer(e.data)) }
        }
    }

    /// JSON string literal with the escapes RFC 8259 requires.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    // MARK: Read

    /// Reads every tensor (converted to Float) and the "__metadata__" strings. What it returns, `write` writes
    /// back. For large files use `SafeTensorsFile`, which converts one tensor at a time into a buffer of yours.
    public static func read(_ url: URL) throws -> (entries: [String: Entry], metadata: [String: String]) {
        let file = try SafeTensorsFile(url)
        var entries: [String: Entry] = [:]
        for (name, t) in file.tensors {
            let values = [Float](unsafeUninitializedCapacity: t.count) { buf, initialized in
                if let p = buf.baseAddress { file.copy(t, into: p) }
                initialized = t.count
            }
            entries[name] = Entry(name: name, shape: t.shape, values: values)
        }
        return (entries, file.metadata)
    }

    /// Integers from JSON numbers (rejects fractions).
    static func intArray(_ a: [Any]) -> [Int]? {
        var out: [Int] = []
        out.reserveCapacity(a.count)
        for x in a {
            if let i = x as? Int { out.append(i); continue }
            if let n = x as? NSNumber {
                let d = n.doubleValue
                guard d.rounded() == d, abs(d) < 0x1p62 else { return nil }
                out.append(Int(d)); continue
            }
            return nil
        }
        return out
    }

    /// IEEE half -> Float, exact (zeros, subnormals, infinities and NaNs included).
    static func halfToFloat(_ h: UInt16) -> Float {
        let negative = h & 0x8000 != 0
        let exp = Int(h >> 10) & 0x1F
        let mant = UInt32(h & 0x3FF)
        let bits: UInt32
        if exp == 0 {
            let v = Float(mant) * 0x1p-24      // zero or subnormal: mant × 2^-24, exact in Float
            return negative ? -v : v
        } else if exp == 31 {
            bits = 0x7F80_0000 | (mant << 13)   // Inf or NaN (payload kept)
        } else {
            bits = UInt32(exp - 15 + 127) << 23 | (mant << 13)
        }
        return Float(bitPattern: (negative ? 0x8000_0000 : 0) | bits)
    }
}
