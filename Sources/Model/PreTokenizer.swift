/// Pre-tokenization of byte-level BPE: the text is cut into pieces (words, numbers, punctuation runs, whitespace
/// runs) that BPE then encodes one by one. The regexes of Hugging Face `tokenizers` (its `Split` and `ByteLevel`
/// pre-tokenizers, run by Oniguruma) are reproduced by hand-written scanners: ordered alternation, leftmost-first,
/// greedy with backtracking, including the `\s+(?!\S)` rule that leaves the last space of a run to the next word.
/// Character classes: \p{L} = Lu Ll Lt Lm Lo, \p{N} = Nd Nl No, \s = White_Space (Oniguruma's Unicode \s:
/// U+0009-000D, U+0085 and the Zs, Zl, Zp categories, which is the same set); `CharClass` agrees with HF on every
/// code point.
struct PreTokenizer: Sendable, Equatable {
    enum Stage: Sendable, Equatable {
        /// HF `Digits`: every numeric character on its own (individual) or runs of them.
        case digits(individual: Bool)
        /// HF `Split(regex, Isolated)`, or `ByteLevel(use_regex: true)` for the GPT-2 regex.
        case regex(SplitPattern)
    }

    /// Applied in order, each to every piece the previous one produced (as HF's `Sequence` does).
    let stages: [Stage]

    /// GPT-2 (and HF `ByteLevel` with use_regex): `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    static let gpt2 = PreTokenizer(stages: [.regex(.gpt2)])
    /// SmolLM2 (StarCoder): `Digits(individual_digits: true)`, then GPT-2's regex on what lies between the digits.
    static let smollm = PreTokenizer(stages: [.digits(individual: true), .regex(.gpt2)])
    static let qwen2 = PreTokenizer(stages: [.regex(.qwen2)])
    static let llama3 = PreTokenizer(stages: [.regex(.llama3)])

    /// Calls `emit` with the scalar range of each piece of `text`, in order (the pieces tile the text).
    func split(_ text: ScalarText, emit: (Range<Int>) -> Void) {
        text.scalars.withUnsafeBufferPointer { s in
            text.classes.withUnsafeBufferPointer { c in
                run(stage: 0, s, c, 0..<s.count, emit)
            }
        }
    }

    private func run(stage k: Int, _ s: UnsafeBufferPointer<UInt32>, _ c: UnsafeBufferPointer<UInt8>,
                     _ range: Range<Int>, _ emit: (Range<Int>) -> Void) {
        if k == stages.count {
            if !range.isEmpty { emit(range) }
            return
        }
        var i = range.lowerBound
        let end = range.upperBound
        switch stages[k] {
        case .digits(let individual):
            while i < end {
                var j = i + 1
                let isDigit = c[i] & CharClass.digit != 0
                if !isDigit || !individual {
                    while j < end && (c[j] & CharClass.digit != 0) == isDigit { j += 1 }
                }
                run(stage: k + 1, s, c, i..<j, emit)
                i = j
            }
        case .regex(let pattern):
            while i < end {
                let j = pattern.matchEnd(s, c, i, end)
                run(stage: k + 1, s, c, i..<j, emit)
                i = j
            }
        }
    }
}

/// The split regexes we reproduce. Each matches every character, so a match is never empty and no text falls
/// between matches.
enum SplitPattern: Sendable, Equatable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case qwen2
    /// Qwen2's with `\p{N}{1,3}` for `\p{N}` (Llama-3, cl100k).
    case llama3

    /// The pattern as tokenizer.json spells it in a `Split` pre-tokenizer.
    var regex: String {
        switch self {
        case .gpt2: return #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
        case .qwen2:
            return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        case .llama3:
            return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        }
    }

    static func named(regex: String) -> SplitPattern? {
        [SplitPattern.gpt2, .qwen2, .llama3].first { $0.regex == regex }
    }

    /// End of the match that starts at `i` (the regex is applied to s[..<end], so lookahead stops at `end`).
    func matchEnd(_ s: UnsafeBufferPointer<UInt32>, _ c: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        switch self {
        case .gpt2: return Self.gpt2End(s, c, i, end)
        case .qwen2: return Self.qwenEnd(s, c, i, end, maxDigits: 1)
        case .llama3: return Self.qwenEnd(s, c, i, end, maxDigits: 3)
        }
    }

    private static let space: UInt32 = 0x20, cr: UInt32 = 0x0D, lf: UInt32 = 0x0A, apostrophe: UInt32 = 0x27

    private static func gpt2End(_ s: UnsafeBufferPointer<UInt32>, _ c: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
        if s[i] == apostrophe, let j = contraction(s, i, end, fold: { $0 }) { return j }
        // ` ?\p{L}+`, then ` ?\p{N}+`, then ` ?[^\s\p{L}\p{N}]+`: an optional leading space, then a run of one class
        let spaceFirst = s[i] == space && i + 1 < end
        if spaceFirst && c[i + 1] & CharClass.letter != 0 { return run(c, i + 1, end, CharClass.letter) }
        if c[i] & CharClass.letter != 0 { return run(c, i, end, CharClass.letter) }
        if spaceFirst && c[i + 1] & CharClass.number != 0 { return run(c, i + 1, end, CharClass.number) }
        if c[i] & CharClass.number != 0 { return run(c, i, end, CharClass.number) }
        if spaceFirst && CharClass.matches(c[i + 1], CharClass.other) { return run(c, i + 1, end, CharClass.other) }
        if CharClass.matches(c[i], CharClass.other) { return run(c, i, end, CharClass.other) }
        // Whitespace: `\s+(?!\S)` backs off one character when the run is followed by a non-space; `\s+` else.
        return whitespaceEnd(c, i, end)
    }

    private static func qwenEnd(_ s: UnsafeBufferPointer<UInt32>, _ c: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int,
                                maxDigits: Int) -> Int {
        let ch = s[i], cls = c[i]
        // (?i:'s|'t|'re|'ve|'m|'ll|'d): Oniguruma's case folding also matches U+017F (long s) to s.
        if ch == apostrophe, let j = contraction(s, i, end, fold: foldCase) { return j }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if cls & (CharClass.letter | CharClass.number) == 0 && ch != cr && ch != lf && i + 1 < end
            && c[i + 1] & CharClass.letter != 0 {
            return run(c, i + 1, end, CharClass.letter)
        }
        if cls & CharClass.letter != 0 { return run(c, i, end, CharClass.letter) }
        // \p{N} (Qwen2) or \p{N}{1,3} (Llama-3)
        if cls & CharClass.number != 0 { return min(run(c, i, end, CharClass.number), i + maxDigits) }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var j = -1
        if ch == space && i + 1 < end && CharClass.matches(c[i + 1], CharClass.other) {
            j = run(c, i + 1, end, CharClass.other)
        } else if CharClass.matches(cls, CharClass.other) {
            j = run(c, i, end, CharClass.other)
        }
        if j >= 0 {
            while j < end && (s[j] == cr || s[j] == lf) { j += 1 }
            return j
        }
        // `\s*[\r\n]+`: the whitespace run up to its last \r or \n, when it has one.
        let r = run(c, i, end, CharClass.space)
        var p = r - 1
        while p >= i && s[p] != cr && s[p] != lf { p -= 1 }
        if p >= i { return p + 1 }
        // `\s+(?!\S)|\s+`
        return whitespaceEnd(c, i, end)
    }

    /// End of `'s|'t|'re|'ve|'m|'ll|'d` at i (s[i] is the apostrophe), after mapping letters through `fold`.
    private static func contraction(_ s: UnsafeBufferPointer<UInt32>, _ i: Int, _ end: Int,
                                    fold: (UInt32) -> UInt32) -> Int? {
        guard i + 1 < end else { return nil }
        let a = fold(s[i + 1])
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }          // s t m d
        guard i + 2 < end else { return nil }
        let b = fold(s[i + 2])
        if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }  // re ve ll
        return nil
    }

    /// Simple case folding, as far as the contraction letters need it.
    private static func foldCase(_ v: UInt32) -> UInt32 {
        if v >= 0x41 && v <= 0x5A { return v + 0x20 }
        return v == 0x17F ? 0x73 : v
    }

    /// End of the run of class `cls` that starts at i.
    private static func run(_ c: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, _ cls: UInt8) -> Int {
        var j = i
        while j < end && CharClass.matches(c[j], cls) { j += 1 }
        return j
    }

    /// `\s+(?!\S)|\s+` at i (a whitespace character): the whole run at the end of the text, else the run less its
    /// last character (which then starts the next piece, e.g. " world"), or the single character of a 1-long run.
    private static func whitespaceEnd(_ c: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let r = run(c, i, end, CharClass.space)
        return r == end || r - i == 1 ? r : r - 1
    }
}

/// The character classes the scanners test, one bit each. A character is exactly one of letter, number, space
/// or other; `digit` (Rust's `char::is_numeric`, which HF's `Digits` uses) is separate.
enum CharClass {
    static let letter: UInt8 = 1, number: UInt8 = 2, space: UInt8 = 4, digit: UInt8 = 8
    /// Not a class bit: "none of letter, number, space" ([^\s\p{L}\p{N}]).
    static let other: UInt8 = 0x80

    @inline(__always)
    static func matches(_ bits: UInt8, _ cls: UInt8) -> Bool {
        cls == other ? bits & (letter | number | space) == 0 : bits & cls != 0
    }

    @inline(__always)
    static func of(_ v: UInt32) -> UInt8 {
        v < 0x10000 ? basicPlane[Int(v)] : compute(v)
    }

    /// Classes of U+0000...U+FFFF, computed once.
    private static let basicPlane: [UInt8] = (0..<0x10000).map { compute(UInt32($0)) }

    /// The Unicode version of the regex engine's tables: Oniguruma in HF tokenizers 0.23 has 16.0, while Swift 6.3
    /// has 17.0. To the regexes a character assigned later is unassigned (other); Rust's `is_numeric`, which
    /// `Digits` uses, does know Unicode 17, so the digit bit keeps it.
    static let regexUnicodeVersion = (major: 16, minor: 0)

    static func compute(_ v: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(v) else { return 0 }
        let p = scalar.properties
        let cls: UInt8
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            cls = letter
        case .decimalNumber, .letterNumber, .otherNumber:
            cls = number | digit
        default:
            cls = p.isWhitespace ? space : 0
        }
        guard let age = p.age else { return cls }
        let known = age.major < regexUnicodeVersion.major
            || age.major == regexUnicodeVersion.major && age.minor <= regexUnicodeVersion.minor
        return known ? cls : cls & digit
    }
}

/// A piece of text decoded once for the scanners: its scalars, their classes, and where each starts in the UTF-8.
struct ScalarText {
    var scalars: [UInt32] = []
    var classes: [UInt8] = []
    /// Byte offset of scalar i; offsets[scalars.count] is the byte count.
    var offsets: [Int] = []

    /// Decodes `bytes`, which must be valid UTF-8 (they come from a Swift String).
    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        scalars.reserveCapacity(bytes.count)
        classes.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = UInt32(bytes[i])
            var v: UInt32, len: Int
            if b0 < 0x80 {
                v = b0; len = 1
            } else if b0 < 0xE0 {
                v = (b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F); len = 2
            } else if b0 < 0xF0 {
                v = (b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F); len = 3
            } else {
                v = (b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6
                    | UInt32(bytes[i + 3] & 0x3F)
                len = 4
            }
            scalars.append(v)
            classes.append(CharClass.of(v))
            offsets.append(i)
            i += len
        }
        offsets.append(n)
    }
}
