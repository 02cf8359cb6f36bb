/// Byte-level tokenizer: 4 special tokens, then the 256 byte values (ids 4...259), the layout of the reference
/// scripts (pad 0, bos 1, eos 2). Any UTF-8 text, including arbitrary interpreter output, round-trips exactly.
/// Its special tokens stand for no bytes, so decoded text never shows them (`render` does).
public struct ByteTokenizer: TextTokenizer {
    public static let pad: Int32 = 0
    public static let bos: Int32 = 1
    public static let eos: Int32 = 2
    public static let reserved: Int32 = 3
    public static let byteOffset: Int32 = 4
    public static let vocabSize = 260

    public init() {}

    public var vocabSize: Int { Self.vocabSize }
    public var bos: Int32? { Self.bos }
    public var eos: Set<Int32> { [Self.eos] }
    public var pad: Int32 { Self.pad }
    public func isSpecial(_ id: Int32) -> Bool { id < Self.byteOffset }

    public func tokenBytes(_ id: Int32) -> [UInt8] {
        id >= Self.byteOffset && id < Int32(Self.vocabSize) ? [UInt8(id - Self.byteOffset)] : []
    }

    public func encode(_ text: String) -> [Int32] {
        text.utf8.map { Int32($0) + Self.byteOffset }
    }

    /// The bytes of the byte tokens (special tokens are skipped).
    public func bytes(_ ids: [Int32]) -> [UInt8] {
        ids.compactMap { $0 >= Self.byteOffset && $0 < Int32(Self.vocabSize) ? UInt8($0 - Self.byteOffset) : nil }
    }

    /// Text of the byte tokens; invalid UTF-8 (a sampled partial character) becomes U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        String(decoding: bytes(ids), as: UTF8.self)
    }

    /// A readable rendering that also shows special tokens, for debugging dumps.
    public func render(_ ids: [Int32]) -> String {
        var out = "", run: [Int32] = []
        func flush() { out += decode(run); run.removeAll() }
        for id in ids {
            switch id {
            case Self.pad: flush(); out += "<pad>"
            case Self.bos: flush(); out += "<bos>"
            case Self.eos: flush(); out += "<eos>"
            case Self.reserved: flush(); out += "<reserved>"
            default: run.append(id)
            }
        }
        flush()
        return out
    }
}
