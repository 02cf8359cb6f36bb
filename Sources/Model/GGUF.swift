import Foundation
import Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if _endian(big)
#error("GGUF reads little-endian fields with plain loads")
#endif

/// The GGUF file format (llama.cpp, ggml docs/gguf.md), versions 2 and 3, little-endian:
///
///     "GGUF"  u32 version  u64 tensor_count  u64 kv_count
///     kv_count × { string key, u32 value_type, value }
///     tensor_count × { string name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset }
///     padding to general.alignment (default 32)
///     data: each tensor at data_start + offset (a multiple of the alignment)
///
/// A string is a u64 byte count and UTF-8 bytes (no NUL). dims[0] is the contiguous dimension: GGUF dims
/// [576, 192] are the Hugging Face shape [192, 576], same bytes. Quantization blocks run along dims[0].
///
/// `GGUFFile` maps the file read-only and keeps the mapping for its lifetime; tensors are dequantized straight
/// from it. A truncated, corrupt or hostile file makes `init` throw a `TensorError` "GGUF <path>: <what>",
/// never trap or allocate more than the file could justify: every count and size is checked against the bytes
/// that are left before anything is allocated, with overflow-checked arithmetic.
public struct GGUFFile: Sendable {
    public let url: URL
    public let version: UInt32
    /// Every key-value pair; `keys` has the keys in file order.
    public let metadata: [String: GGUFValue]
    public let keys: [String]
    /// In file order.
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment` (32 when absent): tensor offsets are multiples of it.
    public let alignment: Int
    /// Absolute byte offset of the data section.
    public let dataOffset: Int
    public let fileSize: Int

    private let mapping: GGUFMapping
    private let tensorIndex: [String: Int]

    /// Caps that keep a hostile file from making us allocate far more than it holds: all metadata values
    /// together (Qwen2.5's vocabulary takes ~455k, Gemma 3's ~790k) and the nesting of arrays (llama.cpp
    /// allows none).
    static let maxMetadataValues = 1 << 23
    static let maxArrayDepth = 8
    /// llama.cpp's limits: GGML_MAX_DIMS, and GGML_MAX_NAME (64 bytes with the NUL).
    static let maxDims = 4
    static let maxTensorNameBytes = 63

    public init(url: URL) throws {
        self.url = url
        let path = url.path
        func fail(_ why: String) -> TensorError { TensorError("GGUF \(path): \(why)") }
        mapping = try GGUFMapping(path: path, fail)
        let bytes = mapping.bytes
        fileSize = bytes.count
        var r = GGUFCursor(bytes: bytes, fail: fail)

        // Header
        let magic = try r.take(4, "the magic")
        guard magic.elementsEqual("GGUF".utf8) else {
            let hex = magic.map { String(format: "%02x", $0) }.joined(separator: " ")
            let text = String(magic.map { $0 >= 0x20 && $0 < 0x7F ? Character(UnicodeScalar($0)) : "." })
            throw fail("not a GGUF file (magic \(hex) \"\(text)\", expected \"GGUF\")")
        }
        version = try r.u32("the version")
        guard version == 2 || version == 3 else {
            if version.byteSwapped == 2 || version.byteSwapped == 3 {
                throw fail("big-endian GGUF (version \(version.byteSwapped) byte-swapped) is not supported")
            }
            throw fail("unsupported GGUF version \(version) (supported: 2, 3)"
                       + (version == 1 ? "; version 1 predates 64-bit counts" : ""))
        }
        let tensorCount = try r.u64("the tensor count")
        let kvCount = try r.u64("the key-value count")
        // The smallest key-value pair is 13 bytes (empty key, type, u8), the smallest tensor info 32 (empty
        // name, one dim). Both lists must fit what is left.
        guard kvCount <= UInt64(r.remaining / 13) else {
            throw fail("key-value count \(kvCount) cannot fit in the \(r.remaining) bytes after the header")
        }
        guard tensorCount <= UInt64(r.remaining / 32) else {
            throw fail("tensor count \(tensorCount) cannot fit in the \(r.remaining) bytes after the header")
        }

        // Metadata
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        var valueBudget = GGUFFile.maxMetadataValues
        for i in 0..<Int(kvCount) {
            let key = try r.string("key \(i)")
            guard metadata[key] == nil else { throw fail("duplicate key '\(key)'") }
            let type = try r.u32("the type of '\(key)'")
            metadata[key] = try r.value(type: type, what: "'\(key)'", depth: 0, budget: &valueBudget)
            keys.append(key)
        }
        self.metadata = metadata
        self.keys = keys

        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard case .u32(let v) = a else {
                throw fail("general.alignment is \(a.typeName), expected u32")
            }
            guard v != 0, v & (v - 1) == 0, v <= 1 << 30 else {
                throw fail("general.alignment \(v) is not a power of 2 (at most 2^30)")
            }
            alignment = Int(v)
        }
        self.alignment = alignment

        // Tensor infos: name, dims, type, offset relative to the data section
        var infos: [(name: String, dims: [Int], type: GGMLType, rows: Int, elements: Int, bytes: Int, offset: UInt64)] = []
        var index: [String: Int] = [:]
        for i in 0..<Int(tensorCount) {
            let name = try r.string("the name of tensor \(i)")
            guard name.utf8.count <= GGUFFile.maxTensorNameBytes else {
                throw fail("tensor \(i) name '\(name.prefix(80))' is \(name.utf8.count) bytes, longer than "
                           + "\(GGUFFile.maxTensorNameBytes) (llama.cpp's GGML_MAX_NAME)")
            }
            guard index[name] == nil else { throw fail("duplicate tensor name '\(name)'") }
            let nDims = try r.u32("the dimension count of tensor '\(name)'")
            guard nDims >= 1, nDims <= GGUFFile.maxDims else {
                throw fail("tensor '\(name)' has \(nDims) dimensions (supported: 1 to \(GGUFFile.maxDims))")
            }
            var dims: [Int] = []
            for j in 0..<Int(nDims) {
                let d = try r.u64("dimension \(j) of tensor '\(name)'")
                guard d <= UInt64(Int.max) else { throw fail("tensor '\(name)' dimension \(j) is \(d), too large") }
                dims.append(Int(d))
            }
            // rows = dims[1] × ... (also when dims[0] is 0), elements = rows × dims[0]
            guard let rows = checkedProduct(dims.dropFirst()), let elements = checkedProduct(dims[...]) else {
                throw fail("tensor '\(name)' dims \(dims) overflow: the element count is too large")
            }
            let typeID = try r.u32("the type of tensor '\(name)'")
            guard let type = GGMLType(rawValue: typeID) else {
                throw fail("tensor '\(name)' has unknown ggml type id \(typeID)")
            }
            guard dims[0] % type.blockSize == 0 else {
                throw fail("tensor '\(name)' of type \(type.name) has rows of \(dims[0]) elements, not a multiple "
                           + "of its block size \(type.blockSize)")
            }
            let (byteCount, o2) = (elements / type.blockSize).multipliedReportingOverflow(by: type.bytesPerBlock)
            guard !o2, byteCount <= fileSize else {
                throw fail("tensor '\(name)' (\(type.name), dims \(dims)) needs "
                           + (o2 ? "more than 2^63" : "\(byteCount)") + " bytes, more than the file's \(fileSize)")
            }
            let offset = try r.u64("the offset of tensor '\(name)'")
            guard offset % UInt64(alignment) == 0 else {
                throw fail("tensor '\(name)' offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            index[name] = infos.count
            infos.append((name, dims, type, rows, elements, byteCount, offset))
        }

        // Data section: at the next multiple of the alignment; every tensor must lie inside the file.
        let headerEnd = r.position
        let dataOffset = (headerEnd + alignment - 1) / alignment * alignment   // no overflow: headerEnd <= file size, alignment <= 2^30
        self.dataOffset = dataOffset
        guard infos.isEmpty || dataOffset <= fileSize else {
            throw fail("truncated: the data section starts at byte \(dataOffset), past the end of the file (\(fileSize) bytes)")
        }
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(infos.count)
        for t in infos {
            let room = fileSize - dataOffset
            guard t.offset <= UInt64(room), t.bytes <= room - Int(t.offset) else {
                throw fail("tensor '\(t.name)' (\(t.type.name), dims \(t.dims), \(t.bytes) bytes at data offset "
                           + "\(t.offset)) runs past the end of the file (\(fileSize) bytes, data from byte "
                           + "\(dataOffset)): truncated?")
            }
            tensors.append(GGUFTensorInfo(name: t.name, dims: t.dims, type: t.type, offset: dataOffset + Int(t.offset),
                                          byteCount: t.bytes, elementCount: t.elements, rowCount: t.rows))
        }
        self.tensors = tensors
        tensorIndex = index
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    // MARK: Dequantization

    /// Writes `t.elementCount` floats to `out`, row-major with dims[0] contiguous: for a 2-D tensor exactly the
    /// Hugging Face [rows, cols] = [dims[1], dims[0]] layout. Throws for a type SwiftTIR cannot dequantize.
    public func dequantize(_ t: GGUFTensorInfo, into out: UnsafeMutablePointer<Float>) throws {
        try dequantize(t, rows: 0..<t.rowCount, into: out)
    }

    /// Dequantizes rows `rows` of `t` (a row is dims[0] = `rowLength` elements; there are `rowCount`) into
    /// `rows.count * t.rowLength` floats at `out`: e.g. one head's rows, to undo a Q/K row permutation.
    public func dequantize(_ t: GGUFTensorInfo, rows: Range<Int>, into out: UnsafeMutablePointer<Float>) throws {
        try check(t)
        guard rows.lowerBound >= 0, rows.upperBound <= t.rowCount else {
            throw TensorError("GGUF \(url.path): rows \(rows) out of range for tensor '\(t.name)' with \(t.rowCount) rows")
        }
        guard !rows.isEmpty, t.rowLength > 0 else { return }
        let blocksPerRow = t.rowLength / t.type.blockSize
        let start = mapping.base + t.offset + rows.lowerBound * blocksPerRow * t.type.bytesPerBlock
        t.type.dequantizeBlocks(start, rows.count * blocksPerRow, out)
    }

    /// The whole tensor as a new array (see `dequantize(_:into:)`).
    public func dequantize(_ t: GGUFTensorInfo) throws -> [Float] {
        try check(t)
        return try [Float](unsafeUninitializedCapacity: t.elementCount) { buf, initialized in
            if t.elementCount > 0 { try dequantize(t, into: buf.baseAddress!) }
            initialized = t.elementCount
        }
    }

    /// The stored bytes of `t`, valid only inside `body` (they are the file's mapping).
    public func withRawBytes<R>(of t: GGUFTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try checkRange(t)
        return try body(UnsafeRawBufferPointer(start: mapping.base + t.offset, count: t.byteCount))
    }

    private func checkRange(_ t: GGUFTensorInfo) throws {
        guard let i = tensorIndex[t.name], tensors[i] == t else {
            throw TensorError("GGUF \(url.path): tensor '\(t.name)' does not belong to this file")
        }
    }

    private func check(_ t: GGUFTensorInfo) throws {
        try checkRange(t)
        guard t.type.canDequantize else {
            throw TensorError("GGUF \(url.path): tensor \(t.name) has type \(t.type.name) (id \(t.type.rawValue)), which "
                              + "SwiftTIR cannot dequantize; supported: "
                              + GGMLType.dequantizable.map(\.name).joined(separator: ", "))
        }
    }

    // MARK: Typed metadata

    /// The string at `key`; throws a TensorError naming the key when it is missing or not a string.
    public func string(_ key: String) throws -> String { try required(key, optionalString(key)) }
    /// The integer at `key`, of any integer width (u8 ... i64); throws when missing, not an integer, or beyond Int.
    public func int(_ key: String) throws -> Int { try required(key, optionalInt(key)) }
    /// The number at `key`: f32, f64 or any integer.
    public func float(_ key: String) throws -> Double { try required(key, optionalFloat(key)) }
    public func bool(_ key: String) throws -> Bool { try required(key, optionalBool(key)) }
    /// An array of strings.
    public func strings(_ key: String) throws -> [String] { try required(key, optionalStrings(key)) }
    /// An array of integers of any width.
    public func ints(_ key: String) throws -> [Int] { try required(key, optionalInts(key)) }
    /// An array of numbers (f32, f64 or integers).
    public func floats(_ key: String) throws -> [Double] { try required(key, optionalFloats(key)) }

    /// nil when `key` is absent; throws when it is present with another type.
    public func optionalString(_ key: String) throws -> String? { try typed(key, "a string") { $0.stringValue } }
    public func optionalInt(_ key: String) throws -> Int? { try typed(key, "an integer that fits Int") { $0.intValue } }
    public func optionalFloat(_ key: String) throws -> Double? { try typed(key, "a number") { $0.doubleValue } }
    public func optionalBool(_ key: String) throws -> Bool? { try typed(key, "a bool") { $0.boolValue } }
    public func optionalStrings(_ key: String) throws -> [String]? {
        try typed(key, "an array of strings") { v in v.arrayValue.flatMap { a in optionalMap(a) { $0.stringValue } } }
    }
    public func optionalInts(_ key: String) throws -> [Int]? {
        try typed(key, "an array of integers that fit Int") { v in v.arrayValue.flatMap { a in optionalMap(a) { $0.intValue } } }
    }
    public func optionalFloats(_ key: String) throws -> [Double]? {
        try typed(key, "an array of numbers") { v in v.arrayValue.flatMap { a in optionalMap(a) { $0.doubleValue } } }
    }

    private func typed<T>(_ key: String, _ expected: String, _ convert: (GGUFValue) -> T?) throws -> T? {
        guard let v = metadata[key] else { return nil }
        guard let x = convert(v) else {
            throw TensorError("GGUF \(url.path): key '\(key)' is \(v.typeName)\(v.shortDescription), expected \(expected)")
        }
        return x
    }

    private func required<T>(_ key: String, _ value: T?) throws -> T {
        guard let value else { throw TensorError("GGUF \(url.path): key '\(key)' is missing") }
        return value
    }
}

/// The product of `dims`: 0 when one of them is 0 (whatever the others), nil when it overflows Int.
func checkedProduct(_ dims: ArraySlice<Int>) -> Int? {
    if dims.contains(0) { return 0 }
    var n = 1
    for d in dims {
        let (p, o) = n.multipliedReportingOverflow(by: d)
        if o { return nil }
        n = p
    }
    return n
}

private func optionalMap<T>(_ a: [GGUFValue], _ f: (GGUFValue) -> T?) -> [T]? {
    var out: [T] = []
    out.reserveCapacity(a.count)
    for x in a {
        guard let y = f(x) else { return nil }
        out.append(y)
    }
    return out
}

/// One tensor of a GGUF file. `dims` are in GGUF order (dims[0] contiguous); `shape` is the same reversed,
/// the Hugging Face / row-major order. `offset` is the absolute byte offset of its data in the file.
public struct GGUFTensorInfo: Equatable, Sendable {
    public let name: String
    public let dims: [Int]
    public let type: GGMLType
    public let offset: Int
    public let byteCount: Int
    public let elementCount: Int
    /// Rows: dims[1] × dims[2] × ... (a row is dims[0] elements).
    public let rowCount: Int

    /// Row-major shape: dims reversed (GGUF [576, 192] is [192, 576]).
    public var shape: [Int] { dims.reversed() }
    /// Elements per row: dims[0].
    public var rowLength: Int { dims[0] }
}

/// A GGUF metadata value. Each case is one GGUF value type, so a file read and written again keeps its types
/// (llama.cpp checks them: `llama.context_length` must be u32, `llama.rope.freq_base` f32,
/// `tokenizer.ggml.token_type` an array of i32, ...). `.uint`, `.int` and `.float` are the 64-bit types
/// (u64, i64, f64). An array holds elements of one type; read the typed accessors of `GGUFFile` (which take
/// any integer or float width) rather than matching cases.
public enum GGUFValue: Equatable, Sendable {
    case u8(UInt8), i8(Int8), u16(UInt16), i16(Int16), u32(UInt32), i32(Int32), f32(Float)
    case bool(Bool), string(String), array([GGUFValue])
    case uint(UInt64), int(Int64), float(Double)

    /// The GGUF value type id (0 u8 ... 12 f64).
    public var typeID: UInt32 {
        switch self {
        case .u8: return 0
        case .i8: return 1
        case .u16: return 2
        case .i16: return 3
        case .u32: return 4
        case .i32: return 5
        case .f32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint: return 10
        case .int: return 11
        case .float: return 12
        }
    }

    public var typeName: String {
        if case .array(let a) = self { return "array of \(a.count) " + (a.first.map { $0.typeName } ?? "values") }
        return GGUFValue.typeNames[Int(typeID)]
    }

    static let typeNames = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"]

    /// Any integer width, if it fits Int.
    public var intValue: Int? {
        switch self {
        case .u8(let v): return Int(v)
        case .i8(let v): return Int(v)
        case .u16(let v): return Int(v)
        case .i16(let v): return Int(v)
        case .u32(let v): return Int(v)
        case .i32(let v): return Int(v)
        case .uint(let v): return Int(exactly: v)
        case .int(let v): return Int(exactly: v)
        default: return nil
        }
    }

    /// f32, f64 or any integer.
    public var doubleValue: Double? {
        switch self {
        case .f32(let v): return Double(v)
        case .float(let v): return v
        case .uint(let v): return Double(v)
        case .int(let v): return Double(v)
        default: return intValue.map(Double.init)
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [GGUFValue]? { if case .array(let a) = self { return a } else { return nil } }

    /// " (value)" for scalars in error messages.
    var shortDescription: String {
        switch self {
        case .u8(let v): return " (\(v))"
        case .i8(let v): return " (\(v))"
        case .u16(let v): return " (\(v))"
        case .i16(let v): return " (\(v))"
        case .u32(let v): return " (\(v))"
        case .i32(let v): return " (\(v))"
        case .f32(let v): return " (\(v))"
        case .bool(let v): return " (\(v))"
        case .string(let s): return " (\"\(s.prefix(40))\(s.count > 40 ? "..." : "")\")"
        case .array: return ""
        case .uint(let v): return " (\(v))"
        case .int(let v): return " (\(v))"
        case .float(let v): return " (\(v))"
        }
    }
}

// MARK: Mapping and parsing

/// Owns the read-only mapping of a whole file; unmaps it in deinit.
final class GGUFMapping: @unchecked Sendable {   // immutable after init
    let base: UnsafeRawPointer
    let count: Int

    init(path: String, _ fail: (String) -> TensorError) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fail("cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fail("cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw fail("not a regular file") }
        let size = Int(st.st_size)
        guard size >= 24 else { throw fail("truncated: \(size) bytes, shorter than the 24-byte GGUF header") }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) /* MAP_FAILED */ else {
            throw fail("cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
        count = size
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), count) }
}

/// Reads the header fields in order; every read checks that its bytes exist.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let fail: (String) -> TensorError
    var position = 0

    var remaining: Int { bytes.count - position }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n <= remaining else {
            throw fail("truncated at byte \(position): \(what()) needs \(n) bytes, \(remaining) left")
        }
    }

    mutating func take(_ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try need(n, what())
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: bytes[position ..< position + n])
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        defer { position += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 { try load(UInt32.self, what()) }
    mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 { try load(UInt64.self, what()) }

    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let n = try u64("the length of \(what())")
        guard n <= UInt64(remaining) else {
            throw fail("truncated at byte \(position): \(what()) is \(n) bytes long, \(remaining) left")
        }
        return String(decoding: try take(Int(n), what()), as: UTF8.self)
    }

    /// A value of GGUF type `type`. `budget` counts down the metadata values left (see maxMetadataValues).
    mutating func value(type: UInt32, what: @autoclosure () -> String, depth: Int, budget: inout Int) throws -> GGUFValue {
        budget -= 1
        guard budget >= 0 else { throw fail("more than \(GGUFFile.maxMetadataValues) metadata values") }
        switch type {
        case 0: return .u8(try load(UInt8.self, what()))
        case 1: return .i8(try load(Int8.self, what()))
        case 2: return .u16(try load(UInt16.self, what()))
        case 3: return .i16(try load(Int16.self, what()))
        case 4: return .u32(try load(UInt32.self, what()))
        case 5: return .i32(try load(Int32.self, what()))
        case 6: return .f32(Float(bitPattern: try load(UInt32.self, what())))
        case 7:
            let b = try load(UInt8.self, what())
            guard b <= 1 else { throw fail("\(what()) is a bool with byte \(b), not 0 or 1") }
            return .bool(b == 1)
        case 8: return .string(try string(what()))
        case 9:
            guard depth < GGUFFile.maxArrayDepth else {
                throw fail("\(what()): arrays nested more than \(GGUFFile.maxArrayDepth) deep")
            }
            let elementType = try u32("the element type of \(what())")
            let count = try u64("the element count of \(what())")
            // Smallest element: 1 byte (u8, i8, bool), 2, 4, 8, a string's 8-byte length, an array's 12-byte header.
            let minBytes: UInt64
            switch elementType {
            case 0, 1, 7: minBytes = 1
            case 2, 3: minBytes = 2
            case 4, 5, 6: minBytes = 4
            case 8, 10, 11, 12: minBytes = 8
            case 9: minBytes = 12
            default: throw fail("\(what()) is an array of unknown value type \(elementType)")
            }
            guard count <= UInt64(remaining) / minBytes else {
                throw fail("truncated at byte \(position): \(what()) has \(count) elements of type "
                           + "\(GGUFValue.typeNames[Int(elementType)]), \(remaining) bytes left")
            }
            guard count <= UInt64(budget) else { throw fail("more than \(GGUFFile.maxMetadataValues) metadata values") }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(count))
            for i in 0..<Int(count) {
                items.append(try value(type: elementType, what: "\(what())[\(i)]", depth: depth + 1, budget: &budget))
            }
            return .array(items)
        case 10: return .uint(try load(UInt64.self, what()))
        case 11: return .int(try load(Int64.self, what()))
        case 12: return .float(Double(bitPattern: try load(UInt64.self, what())))
        default: throw fail("\(what()) has unknown value type \(type)")
        }
    }
}
