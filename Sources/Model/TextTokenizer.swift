/// What the rest of the system needs from a tokenizer: the byte tokenizer of the toy model and the byte-level
/// BPE of real models (tokenizer.json or GGUF metadata) both conform. Ids are Int32, as everywhere in the model.
public protocol TextTokenizer: Sendable {
    /// Rows of the embedding the ids index (may exceed the tokenizer's own ids: padding rows).
    var vocabSize: Int { get }
    /// Ids the tokenizer defines (0..<tokenCount); rows beyond it are padding and are never sampled.
    var tokenCount: Int { get }
    /// Prepended by callers that want it (`encode` never adds it); nil when the model uses none.
    var bos: Int32? { get }
    /// Every id that ends generation (e.g. `<|im_end|>` and `<|endoftext|>` for Qwen2).
    var eos: Set<Int32> { get }
    /// The id right-padded rows are filled with (never trained on).
    var pad: Int32 { get }
    /// Ids of `text`; special and added tokens written literally in the text are recognised.
    func encode(_ text: String) -> [Int32]
    /// The raw bytes a token stands for (a special token: its text). Unknown ids give no bytes.
    func tokenBytes(_ id: Int32) -> [UInt8]
    /// True for control tokens (BOS, EOS, pad, `<|im_start|>`, ...).
    func isSpecial(_ id: Int32) -> Bool
    /// Text for debugging dumps, special tokens shown.
    func render(_ ids: [Int32]) -> String
}

extension TextTokenizer {
    /// Every row is a token unless the tokenizer says otherwise.
    public var tokenCount: Int { vocabSize }

    /// The bytes of a token sequence, special tokens included as their text.
    public func bytes(_ ids: [Int32]) -> [UInt8] { ids.flatMap { tokenBytes($0) } }

    public func render(_ ids: [Int32]) -> String { decode(ids) }

    /// Text of `ids`; invalid UTF-8 (a partial character) becomes U+FFFD.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        String(decoding: (skipSpecial ? ids.filter { !isSpecial($0) } : ids).flatMap { tokenBytes($0) }, as: UTF8.self)
    }
}

/// Turns a stream of token ids into text, holding back the bytes of a UTF-8 character that is not complete yet
/// (a BPE token can end in the middle of one), so streamed output never shows a replacement character that the
/// next token would have completed.
public struct StreamingDecoder {
    public let tokenizer: any TextTokenizer
    private var pending: [UInt8] = []

    public init(_ tokenizer: any TextTokenizer) { self.tokenizer = tokenizer }

    /// The text that is complete after `id`.
    public mutating func push(_ id: Int32) -> String {
        pending += tokenizer.tokenBytes(id)
        let cut = completePrefixLength(pending)
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Whatever is held back (an incomplete character becomes U+FFFD).
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a UTF-8 sequence which could still be completed.
    private func completePrefixLength(_ b: [UInt8]) -> Int {
        var i = b.count - 1, back = 0
        while i >= 0 && back < 4 {
            let c = b[i]
            if c & 0xC0 != 0x80 {                  // a lead byte (or ASCII) at i
                let need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1
                return back + 1 < need && c >= 0xC0 && c < 0xF8 ? i : b.count
            }
            i -= 1; back += 1
        }
        return b.count
    }
}
