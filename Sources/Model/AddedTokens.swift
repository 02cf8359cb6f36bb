/// A token added on top of the BPE vocabulary (HF `added_tokens`; GGUF control and user-defined tokens): special
/// tokens such as `<|im_start|>`, and plain added ones such as Qwen2's `<tool_call>`. Written literally in the
/// text, they are recognised as one token before anything else happens to the text.
struct AddedToken: Sendable {
    let id: Int32
    let content: String
    /// Control token: skipped by `decode(skipSpecial:)`.
    let special: Bool
    /// Swallow the whitespace on the left / right of the token into it.
    var lstrip = false
    var rstrip = false
    /// Match only where the token is not part of a longer word.
    var singleWord = false
    /// Match in the normalized text (after NFC) instead of the raw text.
    var normalized = false
}

/// Finds added tokens in text the way HF's `AddedVocabulary::find_matches` does: Aho-Corasick leftmost-longest
/// (the leftmost match, the longest token there), non-overlapping, then the single_word, lstrip and rstrip rules.
struct AddedTokenMatcher: Sendable {
    enum Segment: Equatable {
        case token(Int32)
        case text(Range<Int>)
    }

    private let tokens: [AddedToken]
    private let contents: [[UInt8]]
    /// For each first byte, the tokens starting with it, longest first.
    private let byFirstByte: [[Int]]

    var isEmpty: Bool { tokens.isEmpty }

    init(_ tokens: [AddedToken]) {
        let tokens = tokens.filter { !$0.content.isEmpty }
        let contents = tokens.map { Array($0.content.utf8) }
        var byFirst = [[Int]](repeating: [], count: 256)
        for i in tokens.indices { byFirst[Int(contents[i][0])].append(i) }
        self.tokens = tokens
        self.contents = contents
        byFirstByte = byFirst.map { list in list.sorted { contents[$0].count > contents[$1].count } }
    }

    /// The text cut into added tokens and the text between them (never an empty text segment).
    func split(_ text: UnsafeBufferPointer<UInt8>) -> [Segment] {
        var segments: [Segment] = []
        var start = 0          // end of the last token: text before a match starts here
        var i = 0
        let n = text.count
        while i < n {
            guard let t = longestMatch(text, at: i) else { i += 1; continue }
            let token = tokens[t]
            var lo = i, hi = i + contents[t].count
            i = hi
            if token.singleWord && (lo > 0 && isWordCharacter(before: lo, text) || hi < n && isWordCharacter(at: hi, text)) {
                continue
            }
            if token.lstrip { lo = max(start, whitespaceStart(before: lo, text)) }
            if token.rstrip { hi = whitespaceEnd(from: hi, text); i = hi }
            if start < lo { segments.append(.text(start..<lo)) }
            segments.append(.token(token.id))
            start = hi
        }
        if start < n { segments.append(.text(start..<n)) }
        return segments
    }

    private func longestMatch(_ text: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        for t in byFirstByte[Int(text[i])] {
            let c = contents[t]
            if i + c.count <= text.count && (0..<c.count).allSatisfy({ text[i + $0] == c[$0] }) { return t }
        }
        return nil
    }

    // Word and whitespace tests of Rust's regex crate, which HF uses here: \w = Alphabetic, M, Nd, Pc,
    // Join_Control; \s = White_Space.
    private static func isWord(_ c: Unicode.Scalar) -> Bool {
        let p = c.properties
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return p.isAlphabetic || p.isJoinControl
        }
    }

    private func isWordCharacter(before i: Int, _ text: UnsafeBufferPointer<UInt8>) -> Bool {
        let (c, _) = scalar(endingAt: i, text)
        return Self.isWord(c)
    }

    private func isWordCharacter(at i: Int, _ text: UnsafeBufferPointer<UInt8>) -> Bool {
        Self.isWord(scalar(at: i, text).0)
    }

    private func whitespaceStart(before i: Int, _ text: UnsafeBufferPointer<UInt8>) -> Int {
        var j = i
        while j > 0 {
            let (c, len) = scalar(endingAt: j, text)
            guard c.properties.isWhitespace else { break }
            j -= len
        }
        return j
    }

    private func whitespaceEnd(from i: Int, _ text: UnsafeBufferPointer<UInt8>) -> Int {
        var j = i
        while j < text.count {
            let (c, len) = scalar(at: j, text)
            guard c.properties.isWhitespace else { break }
            j += len
        }
        return j
    }

    /// The scalar that starts at byte i, and its length.
    private func scalar(at i: Int, _ text: UnsafeBufferPointer<UInt8>) -> (Unicode.Scalar, Int) {
        var len = 1
        while i + len < text.count && text[i + len] & 0xC0 == 0x80 { len += 1 }
        return (decodeScalar(UnsafeBufferPointer(rebasing: text[i..<(i + len)])), len)
    }

    /// The scalar that ends at byte i, and its length.
    private func scalar(endingAt i: Int, _ text: UnsafeBufferPointer<UInt8>) -> (Unicode.Scalar, Int) {
        var j = i - 1
        while j > 0 && text[j] & 0xC0 == 0x80 { j -= 1 }
        return (decodeScalar(UnsafeBufferPointer(rebasing: text[j..<i])), i - j)
    }

    private func decodeScalar(_ bytes: UnsafeBufferPointer<UInt8>) -> Unicode.Scalar {
        String(decoding: bytes, as: UTF8.self).unicodeScalars.first ?? "\u{FFFD}"
    }
}
