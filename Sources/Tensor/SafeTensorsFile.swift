import Foundation

/// A safetensors file mapped into memory with its header parsed: tensors are converted to Float one at a time,
/// straight from the mapping into the caller's buffer, so loading a model needs no second copy of it.
/// Throws a TensorError naming the file and the problem for a missing or truncated file, a bad header length,
/// invalid JSON, an empty tensor name, an unsupported dtype, or data_offsets that are out of range,
/// overlapping, or disagree with shape × dtype.
public final class SafeTensorsFile {
    public enum DType: String, Sendable { case f32 = "F32", f16 = "F16", bf16 = "BF16" }

    public struct Tensor: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Elements (product of the shape).
        public let count: Int
        /// Byte offset of the data from the start of the file.
        let offset: Int
    }

    public let url: URL
    public let tensors: [String: Tensor]
    public let metadata: [String: String]
    private let data: Data

    public init(_ url: URL) throws {
        self.url = url
        let path = url.path
        func fail(_ why: String) -> TensorError { TensorError("safetensors \(path): \(why)") }
        guard FileManager.default.fileExists(atPath: path) else { throw fail("no such file") }
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw fail("cannot read: \(error.localizedDescription)")
        }
        guard data.count >= 8 else {
            throw fail("truncated: \(data.count) bytes, shorter than the 8-byte header length")
        }
        let headerLen = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLen <= UInt64(data.count - 8) else {
            throw fail("header length \(headerLen) goes beyond the file (\(data.count) bytes): truncated or not safetensors")
        }
        guard headerLen <= UInt64(SafeTensors.maxHeaderBytes) else {
            throw fail("header length \(headerLen) exceeds \(SafeTensors.maxHeaderBytes) bytes")
        }
        let hlen = Int(headerLen)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: data.subdata(in: 8 ..< 8 + hlen)) } catch {
            throw fail("invalid JSON header (\(hlen) bytes): \(error.localizedDescription)")
        }
        guard let dict = json as? [String: Any] else { throw fail("JSON header is not an object") }
        let dataStart = 8 + hlen, dataSize = data.count - dataStart
        var metadata: [String: String] = [:]
        var tensors: [String: Tensor] = [:]
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
            guard let dtypeName = info["dtype"] as? String else { throw fail("tensor '\(name)' has no dtype string") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw fail("tensor '\(name)' has unsupported dtype '\(dtypeName)' (supported: F32, BF16, F16)")
            }
            let width = dtype == .f32 ? 4 : 2
            guard let shapeAny = info["shape"] as? [Any], let shape = SafeTensors.intArray(shapeAny),
                  shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)' has no valid shape (a list of integers >= 0)")
            }
            guard let offAny = info["data_offsets"] as? [Any], let off = SafeTensors.intArray(offAny), off.count == 2 else {
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
                throw fail("tensor '\(name)' data_offsets [\(begin), \(end)] hold \(end - begin) bytes, but \(dtypeName) "
                           + "shape \(shape) needs \(n.multipliedReportingOverflow(by: width).partialValue)")
            }
            ranges.append((begin, end, name))
            tensors[name] = Tensor(name: name, dtype: dtype, shape: shape, count: n, offset: dataStart + begin)
        }
        ranges.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for i in ranges.indices.dropFirst() where ranges[i].begin < ranges[i - 1].end {
            throw fail("tensors '\(ranges[i - 1].name)' and '\(ranges[i].name)' have overlapping data_offsets")
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Converts tensor `t` of this file to Float into out[0..<t.count].
    public func copy(_ t: Tensor, into out: UnsafeMutablePointer<Float>) {
        let n = t.count
        guard n > 0 else { return }
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let src = raw.baseAddress! + t.offset
            switch t.dtype {
            case .f32:
                UnsafeMutableRawPointer(out).copyMemory(from: src, byteCount: 4 * n)
            case .bf16:
                for i in 0..<n {
                    let b = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    out[i] = Float(bitPattern: UInt32(b) << 16)
                }
            case .f16:
                for i in 0..<n {
                    out[i] = SafeTensors.halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            }
        }
    }
}
