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

        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw TensorError("SafeTensors.write: cannot create \(tmp.path): \(String(cString: strerror(errno)))")
        }
        var ok = false
        defer {
            if !ok { close(fd); unlink(tmp.path) }
        }
        var n = UInt64(headerBytes.count).littleEndian
        try withUnsafeBytes(of: &n) { try writeAll(fd, $0, tmp) }
        try headerBytes.withUnsafeBytes { try writeAll(fd, $0, tmp) }
        for e in entries where e.data.count > 0 {
            try writeAll(fd, UnsafeRawBufferPointer(e.data), tmp)
        }
        guard fsync(fd) == 0 else { throw TensorError("SafeTensors.write: fsync \(tmp.path): \(String(cString: strerror(errno)))") }
        guard close(fd) == 0 else {
            unlink(tmp.path); ok = true
            throw TensorError("SafeTensors.write: close \(tmp.path): \(String(cString: strerror(errno)))")
        }
        ok = true
        guard rename(tmp.path, url.path) == 0 else {
            let msg = String(cString: strerror(errno))
            unlink(tmp.path)
            throw TensorError("SafeTensors.write: rename to \(url.path): \(msg)")
        }
        // make the rename itself durable
        let dfd = open(dir.path, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ path: URL) throws {
        var done = 0
        while done < bytes.count {
            #if canImport(Glibc)
            let r = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            #else
            let r = Darwin.write(fd, bytes.baseAddress! + done, bytes.count - done)
            #endif
            if r < 0 {
                if errno == EINTR { continue }
                throw TensorError("SafeTensors.write: writing \(path.path): \(String(cString: strerror(errno)))")
            }
            done += r
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

    /// Reads every tensor (converted to Float) and the "__metadata__" strings. Throws a TensorError naming
    /// the file and the problem for a missing or truncated file, a bad header length, invalid JSON, an empty
    /// tensor name, an unsupported dtype, or data_offsets that are out of range, overlapping, or disagree with
    /// shape × dtype. What it returns, `write` writes back.
    public static func read(_ url: URL) throws -> (entries: [String: Entry], metadata: [String: String]) {
        let path = url.path
        func fail(_ why: String) -> TensorError { TensorError("safetensors \(path): \(why)") }
        guard FileManager.default.fileExists(atPath: path) else { throw fail("no such file") }
        let file: Data
        do { file = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw fail("cannot read: \(error.localizedDescription)")
        }
        guard file.count >= 8 else {
            throw fail("truncated: \(file.count) bytes, shorter than the 8-byte header length")
        }
        return try file.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let headerLen = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
            guard headerLen <= UInt64(file.count - 8) else {
                throw fail("header length \(headerLen) goes beyond the file (\(file.count) bytes): truncated or not safetensors")
            }
            guard headerLen <= UInt64(maxHeaderBytes) else { throw fail("header length \(headerLen) exceeds \(maxHeaderBytes) bytes") }
            let hlen = Int(headerLen)
            let headerData = Data(raw[8 ..< 8 + hlen])
            let json: Any
            do { json = try JSONSerialization.jsonObject(with: headerData) } catch {
                throw fail("invalid JSON header (\(hlen) bytes): \(error.localizedDescription)")
            }
            guard let dict = json as? [String: Any] else { throw fail("JSON header is not an object") }
            let dataStart = 8 + hlen, dataSize = file.count - dataStart
            var metadata: [String: String] = [:]
            var entries: [String: Entry] = [:]
            var ranges: [(begin: Int, end: Int, name: String)] = []
            for (name, value) in dict {
                if name == "__metadata__" {
                    guard let m = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                    for (k, v) in m {
                        guard let s = v as? String else { throw fail("__metadata__ value for '\(k)' is not a string") }
                        metadata[k] = s
                    }
                    continue
                }
                guard !name.isEmpty else { throw fail("a tensor has an empty name") }   // `write` refuses one too
                guard let info = value as? [String: Any] else { throw fail("entry '\(name)' is not an object") }
                guard let dtype = info["dtype"] as? String else { throw fail("tensor '\(name)' has no dtype string") }
                let width: Int
                switch dtype {
                case "F32": width = 4
                case "BF16", "F16": width = 2
                default: throw fail("tensor '\(name)' has unsupported dtype '\(dtype)' (supported: F32, BF16, F16)")
                }
                guard let shapeAny = info["shape"] as? [Any], let shape = intArray(shapeAny), shape.allSatisfy({ $0 >= 0 }) else {
                    throw fail("tensor '\(name)' has no valid shape (a list of integers >= 0)")
                }
                guard let offAny = info["data_offsets"] as? [Any], let off = intArray(offAny), off.count == 2 else {
                    throw fail("tensor '\(name)' has no valid data_offsets (two integers)")
                }
                let (begin, end) = (off[0], off[1])
                guard begin >= 0, begin <= end, end <= dataSize else {
                    throw fail("tensor '\(name)' data_offsets [\(begin), \(end)] outside the data section of \(dataSize) bytes"
                               + (end > dataSize ? " (file truncated?)" : ""))
                }
                var n = 1
                for d in shape {
                    let (p, o) = n.multipliedReportingOverflow(by: d)
                    guard !o else { throw fail("tensor '\(name)' shape \(shape) overflows") }
                    n = p
                }
                guard n <= (end - begin) / width, n * width == end - begin else {
                    throw fail("tensor '\(name)' data_offsets [\(begin), \(end)] hold \(end - begin) bytes, but \(dtype) "
                               + "shape \(shape) needs \(n.multipliedReportingOverflow(by: width).partialValue)")
                }
                ranges.append((begin, end, name))
                let src = raw.baseAddress! + dataStart + begin
                let values = [Float](unsafeUninitializedCapacity: n) { buf, initialized in
                    switch dtype {
                    case "F32":
                        if n > 0 { UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: src, byteCount: 4 * n) }
                    case "BF16":
                        for i in 0..<n {
                            let b = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                            buf[i] = Float(bitPattern: UInt32(b) << 16)
                        }
                    default:
                        for i in 0..<n {
                            buf[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                        }
                    }
                    initialized = n
                }
                entries[name] = Entry(name: name, shape: shape, values: values)
            }
            ranges.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
            for i in ranges.indices.dropFirst() where ranges[i].begin < ranges[i - 1].end {
                throw fail("tensors '\(ranges[i - 1].name)' and '\(ranges[i].name)' have overlapping data_offsets")
            }
            return (entries, metadata)
        }
    }

    /// Integers from JSON numbers (rejects fractions).
    private static func intArray(_ a: [Any]) -> [Int]? {
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
