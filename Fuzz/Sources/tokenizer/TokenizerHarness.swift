import Foundation
import FuzzSupport
import Model
import Tensor

// BPETokenizer(tokenizerJSON:) (what loading a Hugging Face model directory calls on tokenizer.json) on arbitrary
// bytes: it either throws a TensorError whose message starts "tokenizer.json: ", or returns a tokenizer with no
// more ids than the file could number (never a table sized by one large id). Three texts derived from the input
// (its own bytes as UTF-8, the text of all its tokens, a fixed mixed text; each at most 2 KiB) encode to ids in
// 0..<vocabSize, whose bytes are those the file gives the id; the ids decode, also streamed (StreamingDecoder,
// to the same text). Where the file makes encoding lossless (no normalizer, all 256 byte symbols, byte-level
// tokens with one spelling per id, no added token that strips whitespace), the ids give back the text's bytes.
private let textCap = 2048
private let mixedText = "Hello, world! It's 2024: x\u{B2} = 4.\n\n  caf\u{E9} cafe\u{301} \u{4E2D}\u{6587} \u{1F642}"
    + " <|im_start|>user\r\n\t</s><|endoftext|> 12345 \u{0}\u{7F}'S"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    guard let tok = parsedOrRejected(TensorError.self, prefix: "tokenizer.json: ", {
        try BPETokenizer(tokenizerJSON: Data(bytes), vocabSize: nil, bos: nil, eos: [], pad: 0)
    }) else { return 0 }
    note("read: \(tok.vocabSize) ids")
    // Each id costs the file at least 4 bytes ("":0,) and the reader allows as many gaps as ids, plus 256.
    require(tok.vocabSize <= bytes.count + 256, "\(tok.vocabSize) ids from a file of \(bytes.count) bytes")
    require(tok.tokenBytes(-1).isEmpty && tok.tokenBytes(Int32(tok.vocabSize)).isEmpty
            && !tok.isSpecial(-1) && !tok.isSpecial(Int32(tok.vocabSize)), "ids outside 0..<vocabSize are known")

    let file = FileView(bytes)
    if let file {
        for (id, expected) in file.bytesOfId where id < tok.vocabSize {
            require(tok.tokenBytes(Int32(id)) == expected,
                    "id \(id): bytes \(tok.tokenBytes(Int32(id))), the file gives \(expected)")
        }
    }
    var allTokens: [UInt8] = []
    for id in 0..<Int32(tok.vocabSize) where allTokens.count < textCap {
        allTokens += tok.tokenBytes(id)
        _ = tok.isSpecial(id)
    }
    let lossless = file?.lossless ?? false
    note("lossless: \(lossless)")
    for text in [String(decoding: bytes.prefix(textCap), as: UTF8.self),
                 String(decoding: allTokens.prefix(textCap), as: UTF8.self), mixedText] {
        let ids = tok.encode(text)
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= tok.vocabSize }) {
            require(false, "encode gave id \(bad), vocabSize \(tok.vocabSize), text \(text.debugDescription)")
        }
        let decoded = tok.decode(ids)
        require(Array(decoded.utf8) == Array(String(decoding: tok.bytes(ids), as: UTF8.self).utf8), "decode differs from the ids' bytes")
        _ = tok.decode(ids, skipSpecial: true)
        var stream = StreamingDecoder(tok)
        var streamed = ""
        for id in ids { streamed += stream.push(id) }
        streamed += stream.flush()
        require(Array(streamed.utf8) == Array(decoded.utf8), "streamed \(streamed.debugDescription), decoded \(decoded.debugDescription)")
        if lossless {
            require(tok.bytes(ids) == Array(text.utf8),
                    "a lossless tokenizer lost bytes: \(text.debugDescription) -> \(ids) -> \(decoded.debugDescription)")
        }
    }
    return 0
}

/// What the file says, decoded by the harness's own structs (with JSONDecoder, so that a key the file repeats, or
/// spells twice in canonically equivalent ways, collapses as it does for the reader): the bytes of each id the file
/// fixes, and whether encoding must be lossless. Nil when these structs cannot decode it.
private struct FileView {
    /// Ids of an added token (its content; the last one wins) or of exactly one spelling in the vocabulary.
    var bytesOfId: [Int: [UInt8]] = [:]
    var lossless = false

    private struct File: Decodable {
        let model: Model
        let added_tokens: [Added]?
        let normalizer: Anything?
        struct Model: Decodable { let vocab: [String: Int] }
        struct Added: Decodable { let id: Int; let content: String; let lstrip: Bool?; let rstrip: Bool? }
        struct Anything: Decodable { init(from decoder: Decoder) throws {} }
    }

    init?(_ bytes: [UInt8]) {
        guard let file = try? JSONDecoder().decode(File.self, from: Data(bytes)) else { return nil }
        var spellings: [Int: Set<[UInt8]>] = [:]
        var byteLevel = true
        for (token, id) in file.model.vocab {
            let decoded = byteLevelDecode(token)
            byteLevel = byteLevel && decoded.isByteLevel
            spellings[id, default: []].insert(decoded.bytes)
        }
        for (id, set) in spellings where set.count == 1 { bytesOfId[id] = set.first! }
        var stripping = false
        for t in file.added_tokens ?? [] {
            bytesOfId[t.id] = Array(t.content.utf8)
            spellings[t.id, default: []].insert(Array(t.content.utf8))
            stripping = stripping || t.lstrip == true || t.rstrip == true
        }
        let allBytes = byteSymbols.allSatisfy { file.model.vocab[String($0)] != nil }
        lossless = file.normalizer == nil && allBytes && byteLevel && !stripping
            && spellings.values.allSatisfy { $0.count == 1 }
    }
}

/// GPT-2's byte-to-character table (the Model module's ByteLevel is internal): the printable bytes stand for
/// themselves, the other 68 in increasing order for U+0100, U+0101, ...
private let byteSymbols: [Unicode.Scalar] = {
    var extra: UInt32 = 0
    return (0..<256).map { b in
        if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) { return Unicode.Scalar(UInt8(b)) }
        defer { extra += 1 }
        return Unicode.Scalar(0x100 + extra)!
    }
}()

private let byteOfSymbol: [UInt32: UInt8] = Dictionary(uniqueKeysWithValues: byteSymbols.enumerated().map { ($1.value, UInt8($0)) })

/// A vocabulary token's bytes: its characters through the table, or (a character outside it) its own UTF-8.
private func byteLevelDecode(_ token: String) -> (bytes: [UInt8], isByteLevel: Bool) {
    var out: [UInt8] = []
    for c in token.unicodeScalars {
        guard let b = byteOfSymbol[c.value] else { return (Array(token.utf8), false) }
        out.append(b)
    }
    return (out, true)
}
