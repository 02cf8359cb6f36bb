import Foundation
import Tensor
import XCTest
@testable import Model

/// The fixtures of Fixtures/tokenizers, made by reference/make_tokenizer_fixtures.py: truncated SmolLM2 and Qwen2
/// tokenizers (their first 3,000 merges), ~2,800 test strings, and the ids and pre-tokenizer splits Hugging Face
/// `tokenizers` gives for them. Located by #filePath: the test target declares no resources.
enum TokenizerFixtures {
    static let directory = ModelFixtures.url("tokenizers")

    static func data(_ name: String) throws -> Data { try Data(contentsOf: directory.appendingPathComponent(name)) }

    static func strings() throws -> [String] { try JSONDecoder().decode([String].self, from: data("strings.json")) }

    /// One row of space-separated integers per line (ids, or where the pre-tokenizer pieces end).
    static func rows(_ name: String) throws -> [[Int32]] {
        let text = String(decoding: try data(name), as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0.split(separator: " ").map { Int32($0)! } }
    }

    static let eos: [String: Int32] = ["smollm2": 2, "qwen2": 3258]

    /// The truncated tokenizer `name` ("smollm2" or "qwen2") from its tokenizer.json.
    static func tokenizer(_ name: String) throws -> BPETokenizer {
        try BPETokenizer(tokenizerJSON: data("\(name)-truncated.json"), bos: nil, eos: [eos[name]!], pad: eos[name]!)
    }
}

final class BPETokenizerTests: XCTestCase {
    /// Every string encodes to HF's ids; failures list the first few strings.
    func assertMatchesGolden(_ tok: BPETokenizer, _ golden: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let strings = try TokenizerFixtures.strings(), expected = try TokenizerFixtures.rows(golden)
        XCTAssertEqual(strings.count, expected.count, "\(golden): one row per string", file: file, line: line)
        let failures = zip(strings, expected).filter { tok.encode($0.0) != $0.1 }
        XCTAssertEqual(failures.count, 0, "\(golden): \(failures.count) of \(strings.count) strings differ from HF, e.g. "
                       + failures.prefix(3).map { "\($0.0.debugDescription): \(tok.encode($0.0)) vs \($0.1)" }.joined(separator: "; "),
                       file: file, line: line)
    }

    func testTruncatedSmolLM2MatchesHF() throws {
        try assertMatchesGolden(try TokenizerFixtures.tokenizer("smollm2"), "smollm2.ids")
    }

    func testTruncatedQwen2MatchesHF() throws {
        try assertMatchesGolden(try TokenizerFixtures.tokenizer("qwen2"), "qwen2.ids")
    }

    /// The scanners cut every string where HF's pre-tokenizers do (GPT-2 and Llama-3 included, which no fixture
    /// tokenizer uses).
    func testPreTokenizersMatchHF() throws {
        let strings = try TokenizerFixtures.strings()
        for (name, pre) in [("gpt2", PreTokenizer.gpt2), ("smollm2", .smollm), ("qwen2", .qwen2), ("llama3", .llama3)] {
            let expected = try TokenizerFixtures.rows("\(name).splits")
            var failures: [String] = []
            for (s, ends) in zip(strings, expected) {
                var ours: [Int32] = []
                var text = s
                text.withUTF8 { utf8 in pre.split(ScalarText(utf8)) { ours.append(Int32($0.upperBound)) } }
                if ours != ends { failures.append("\(s.debugDescription): \(ours) vs \(ends)") }
            }
            XCTAssertEqual(failures, [], "\(name) pre-tokenizer")
        }
    }

    /// The GGUF form of the same tokenizer (token list, types, "a b" merges, pre-tokenizer name) encodes the same.
    func testGGUFMetadataGivesTheSameTokenizer() throws {
        for (name, pre) in [("smollm2", "smollm"), ("qwen2", "qwen2")] {
            let json = try JSONSerialization.jsonObject(with: TokenizerFixtures.data("\(name)-truncated.json")) as! [String: Any]
            let model = json["model"] as! [String: Any]
            let vocab = model["vocab"] as! [String: Int]
            let added = json["added_tokens"] as! [[String: Any]]
            let size = max(vocab.values.max()!, added.map { $0["id"] as! Int }.max()!) + 1
            var tokens = (0..<size).map { "[UNUSED\($0)]" }, types = [Int](repeating: 5, count: size)
            for (token, id) in vocab { tokens[id] = token; types[id] = 1 }
            for t in added { tokens[t["id"] as! Int] = t["content"] as! String; types[t["id"] as! Int] = t["special"] as! Bool ? 3 : 4 }
            let merges = (model["merges"] as! [Any]).map { m in (m as? String) ?? (m as! [String]).joined(separator: " ") }
            let tok = try BPETokenizer(ggufTokens: tokens, merges: merges, tokenTypes: types, preTokenizer: pre,
                                       vocabSize: size + 10, bos: nil, eos: [], pad: 0)
            XCTAssertEqual(tok.vocabSize, size + 10)
            try assertMatchesGolden(tok, "\(name).ids")
        }
    }

    /// The real tokenizers, read from the GGUF files, when they are here (TIR_SMOLLM2_GGUF, TIR_QWEN_GGUF, or
    /// ~/.cache/swifttir/models).
    func testFullTokenizersFromGGUFMatchHF() throws {
        var ran = false
        for (name, model) in [("smollm2", ModelFixtures.smolLM2), ("qwen2", ModelFixtures.qwen)] {
            guard let url = ModelFixtures.realModel(model) else { continue }
            let g = try GGUFFile(url: url)
            let tok = try BPETokenizer(gguf: g)
            try assertMatchesGolden(tok, "\(name)-full.ids")
            ran = true
        }
        if !ran { throw XCTSkip("no GGUF file (set TIR_SMOLLM2_GGUF / TIR_QWEN_GGUF)") }
    }

    func testSpecialAndAddedTokens() throws {
        let smol = try TokenizerFixtures.tokenizer("smollm2"), qwen = try TokenizerFixtures.tokenizer("qwen2")
        XCTAssertEqual(smol.encode("<|im_start|>user\n<|im_end|>").first, 1)
        XCTAssertEqual(smol.encode("<|im_start|>user\n<|im_end|>").last, 2)
        XCTAssertTrue(smol.isSpecial(1) && smol.isSpecial(2) && !smol.isSpecial(100))
        XCTAssertEqual(smol.decode([1]), "<|im_start|>")
        // A partial special token is plain text.
        XCTAssertFalse(smol.encode("<|im_sta").contains(1))
        // Qwen2's <tool_call> is an added token, not a special one: matched in text, kept by skipSpecial.
        let call = qwen.encode("<tool_call>x</tool_call><|im_end|>")
        XCTAssertEqual(call.count, 4)
        XCTAssertFalse(qwen.isSpecial(call[0]))
        XCTAssertTrue(qwen.isSpecial(call[3]))
        XCTAssertEqual(qwen.decode(call, skipSpecial: true), "<tool_call>x</tool_call>")
        XCTAssertEqual(qwen.decode(call), "<tool_call>x</tool_call><|im_end|>")
        // Ids past the tokenizer's own (embedding padding rows) have no bytes.
        XCTAssertEqual(qwen.tokenBytes(-1), [])
        XCTAssertEqual(qwen.tokenBytes(Int32(qwen.vocabSize)), [])
    }

    /// SmolLM2 lacks 21 byte symbols; HF drops such bytes. Everything else decodes back to the text (Qwen2: the
    /// NFC form of it).
    func testDroppedBytesAndRoundTrip() throws {
        let smol = try TokenizerFixtures.tokenizer("smollm2"), qwen = try TokenizerFixtures.tokenizer("qwen2")
        XCTAssertEqual(smol.encode("a\u{6}b"), smol.encode("a") + smol.encode("b"))
        XCTAssertEqual(smol.decode(smol.encode("a\u{6}b")), "ab")
        XCTAssertEqual(qwen.decode(qwen.encode("cafe\u{301}")).unicodeScalars.count, 4)   // NFC: é is one scalar
        let missing = Set((0..<256).map { UInt8($0) }.filter { smol.model.byteIds[Int($0)] < 0 })
        XCTAssertEqual(missing.count, 21)
        var checked = 0
        for s in try TokenizerFixtures.strings() {
            // Qwen2 normalizes each stretch between added tokens; NFC of the whole undoes the difference.
            XCTAssertEqual(qwen.decode(qwen.encode(s))._nfcCodeUnits, s._nfcCodeUnits, s.debugDescription)
            if s.utf8.allSatisfy({ !missing.contains($0) }) {
                XCTAssertEqual(Array(smol.decode(smol.encode(s)).utf8), Array(s.utf8), s.debugDescription)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 2000)
    }

    /// Emoji whose bytes are split across tokens stream out whole, never as replacement characters.
    func testStreamingDecoderOverSplitEmoji() throws {
        let text = "Hi 👨‍👩‍👧‍👦 and 🇺🇸, 🧑🏿‍💻 done ✔️"
        for tok in [try TokenizerFixtures.tokenizer("smollm2"), try TokenizerFixtures.tokenizer("qwen2")] {
            let ids = tok.encode(text)
            XCTAssertTrue(ids.contains { String(decoding: tok.tokenBytes($0), as: UTF8.self).contains("\u{FFFD}") },
                          "some token should hold part of a character")
            var stream = StreamingDecoder(tok)
            var out = ""
            for id in ids {
                let piece = stream.push(id)
                XCTAssertFalse(piece.contains("\u{FFFD}"))
                out += piece
            }
            out += stream.flush()
            XCTAssertEqual(Array(out.utf8), Array(text.utf8))
        }
    }

    /// The added-token flags neither real tokenizer uses (single_word, lstrip, rstrip, normalized), on the truncated
    /// Qwen2 with four more added tokens. Ids from HF tokenizers on that tokenizer.json.
    func testAddedTokenFlags() throws {
        var json = try JSONSerialization.jsonObject(with: TokenizerFixtures.data("qwen2-truncated.json")) as! [String: Any]
        func token(_ id: Int, _ content: String, singleWord: Bool = false, lstrip: Bool = false, rstrip: Bool = false,
                   normalized: Bool = false) -> [String: Any] {
            ["id": id, "content": content, "single_word": singleWord, "lstrip": lstrip, "rstrip": rstrip,
             "normalized": normalized, "special": !normalized]
        }
        json["added_tokens"] = (json["added_tokens"] as! [Any]) + [
            token(3278, "<mask>", singleWord: true, lstrip: true, rstrip: true), token(3279, "ony", singleWord: true, normalized: true),
            token(3280, "café", normalized: true), token(3281, "<|im", lstrip: true)]
        let tok = try BPETokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: json), bos: nil, eos: [], pad: 0)
        let expected: [(String, [Int32])] = [
            ("Hi <mask> there\t<mask>\t<mask>\u{2000}", [39, 72, 3278, 339, 485, 3278, 3278]),
            ("A<mask> <mask>ony <mask>", [32, 27, 76, 1073, 29, 366, 76, 1073, 29, 3279, 3278]),
            ("<mask>, <mask>- \u{25CC}\u{330}<mask>", [3278, 11, 3278, 12, 2858, 245, 234, 136, 108, 27, 76, 1073, 29]),
            ("ony Tony ony_ ony. 1ony", [3279, 350, 263, 88, 389, 88, 62, 220, 3279, 13, 220, 16, 263, 88]),
            ("cafe\u{301} caf\u{E9} xcaf\u{E9}x", [3280, 220, 3280, 856, 3280, 87]),     // matched after NFC
            ("  <|im_end|>", [256, 3258]), ("a  <|im x", [64, 3281, 856]), ("<|im_start|> <mask>", [3257, 3278])]
        for (text, ids) in expected { XCTAssertEqual(tok.encode(text), ids, text.debugDescription) }
    }

    /// ignore_merges (Llama-3): a piece that is a vocabulary token is taken whole even where the merges would not
    /// build it. Ids from HF tokenizers on this tokenizer.
    func testIgnoreMerges() throws {
        var vocab: [String: Int] = [:]
        for (b, s) in ByteLevel.symbols.enumerated() { vocab[String(s)] = b }
        vocab["ab"] = 256; vocab["bc"] = 257; vocab["abc"] = 258
        for (ignore, expected) in [(false, [97, 257, 32, 97, 257, 100] as [Int32]), (true, [258, 32, 97, 257, 100])] {
            let json: [String: Any] = [
                "added_tokens": [] as [Any], "normalizer": NSNull(),
                "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
                "model": ["type": "BPE", "vocab": vocab, "merges": ["b c", "a b", "ab c"], "ignore_merges": ignore]]
            let tok = try BPETokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: json), bos: nil, eos: [], pad: 0)
            XCTAssertEqual(tok.encode("abc abcd"), expected, "ignore_merges \(ignore)")
        }
    }

    func testUnsupportedTokenizersThrow() throws {
        func assertThrows(_ json: String, _ needle: String, line: UInt = #line) {
            XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: Data(json.utf8), bos: nil, eos: [], pad: 0), line: line) {
                XCTAssertTrue("\($0)".contains(needle), "\($0)", line: line)
            }
        }
        let byteLevel = #"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"#
        let model = #"{"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}"#
        assertThrows(#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}, "pre_tokenizer": \#(byteLevel)}"#, "WordPiece")
        assertThrows(#"{"model": {"type": "Unigram", "vocab": [["a", -1.0]]}, "pre_tokenizer": \#(byteLevel)}"#, "Unigram")
        assertThrows(#"{"model": \#(model), "pre_tokenizer": {"type": "Metaspace", "replacement": "▁"}}"#, "ByteLevel")
        assertThrows(#"{"model": \#(model), "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated", "invert": false}, \#(byteLevel)]}}"#,
                     "unknown Split pattern")
        assertThrows(#"{"model": \#(model), "normalizer": {"type": "Lowercase"}, "pre_tokenizer": \#(byteLevel)}"#, "Lowercase")
        assertThrows(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}, "pre_tokenizer": \#(byteLevel)}"#,
                     "not in the vocabulary")
        XCTAssertThrowsError(try BPETokenizer(ggufTokens: ["a"], merges: [], tokenTypes: [1], preTokenizer: "tekken",
                                              vocabSize: 1, bos: nil, eos: [], pad: 0)) {
            XCTAssertTrue("\($0)".contains("unknown BPE pre-tokenizer 'tekken'"), "\($0)")
        }
        // More token ids than embedding rows.
        XCTAssertThrowsError(try BPETokenizer(ggufTokens: ["a", "b"], merges: [], tokenTypes: [1, 1], preTokenizer: "gpt-2",
                                              vocabSize: 1, bos: nil, eos: [], pad: 0))
    }

    /// Token ids (found by Fuzz/ tokenizer): beyond Int32 they trapped; a lone large id made a table entry for every
    /// id below it (a billion: gigabytes from a file of 100 bytes). Without the embedding's row count the ids must run
    /// from 0 with few gaps; every error names tokenizer.json.
    func testTokenIdsOutOfRangeOrFarApart() throws {
        func file(vocab: String, added: String = "[]", merges: String = "[]") -> Data {
            Data(#"{"added_tokens": \#(added), "pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": \#(vocab), "merges": \#(merges)}}"#.utf8)
        }
        func assertThrows(_ data: Data, vocabSize: Int? = nil, _ needle: String, line: UInt = #line) {
            XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: data, vocabSize: vocabSize, bos: nil, eos: [], pad: 0), line: line) {
                XCTAssertTrue("\($0)".hasPrefix("tokenizer.json: ") && "\($0)".contains(needle), "\($0)", line: line)
            }
        }
        assertThrows(file(vocab: #"{"a": 0, "b": 1000000000}"#), #"token "b" has id 1000000000, but the file has 2 ids"#)
        assertThrows(file(vocab: #"{"a": 0, "b": 1000000000}"#, added: #"[{"id": 1, "content": "<s>"}]"#),
                     "999999998 ids below it would have no token (at most 259 may")
        assertThrows(file(vocab: #"{"a": -1}"#), #"token "a" has id -1, outside 0...2147483647"#)
        assertThrows(file(vocab: #"{"a": 3000000000}"#), "has id 3000000000, outside")
        assertThrows(file(vocab: #"{"a": 0}"#, added: #"[{"id": 2147483648, "content": "<s>"}]"#), #"token "<s>" has id 2147483648"#)
        // The embedding's row count bounds the ids instead (an id beyond it is the shared reader's error).
        assertThrows(file(vocab: #"{"a": 0, "b": 1000000000}"#), vocabSize: 10, "beyond the 10 rows of the embedding")
        assertThrows(file(vocab: #"{"a": 0}"#, merges: #"["a b"]"#), "BPE merge 0 'a b' names a token that is not in the vocabulary")
        // Gaps up to the number of ids + 256 are fine; the table ends at the largest id.
        let gappy = try BPETokenizer(tokenizerJSON: file(vocab: #"{"a": 0, "b": 258}"#), bos: nil, eos: [], pad: 0)
        XCTAssertEqual(gappy.vocabSize, 259)
        XCTAssertEqual(gappy.encode("ab"), [0, 258])
        assertThrows(file(vocab: #"{"a": 0, "b": 260}"#), "259 ids below it would have no token (at most 258 may")
    }

    /// Details of the regex engine and Unicode tables the scanners reproduce (all checked against HF).
    func testCharacterClassDetails() throws {
        func pieces(_ s: String, _ pre: PreTokenizer) -> [String] {
            var out: [String] = []
            var text = s
            text.withUTF8 { utf8 in
                let t = ScalarText(utf8)
                pre.split(t) { r in out.append(String(decoding: utf8[t.offsets[r.lowerBound]..<t.offsets[r.upperBound]], as: UTF8.self)) }
            }
            return out
        }
        XCTAssertEqual(pieces("x'ſt IT'S", .qwen2), ["x", "'ſ", "t", " IT", "'S"])           // (?i) folds ſ to s
        XCTAssertEqual(pieces("IT'S", .gpt2), ["IT", "'", "S"])                              // GPT-2: case-sensitive
        XCTAssertEqual(pieces("a \u{85}b", .gpt2), ["a", " ", "\u{85}", "b"])                // U+0085 is \s
        XCTAssertEqual(pieces("a\u{180E}b", .gpt2), ["a", "\u{180E}", "b"])                  // U+180E is not (any more)
        XCTAssertEqual(pieces("x  \n  y", .qwen2), ["x", "  \n", " ", " y"])
        XCTAssertEqual(pieces("abc 123 def", .smollm), ["abc", " ", "1", "2", "3", " def"])
        XCTAssertEqual(pieces("12345", .llama3), ["123", "45"])
        // Assigned in Unicode 17, after the regex engine's tables (16.0): other to the regexes, a digit to Digits.
        XCTAssertEqual(CharClass.of(0x11DE0), CharClass.digit)
        XCTAssertEqual(CharClass.of(0x0C5C), 0)
    }

    /// Well under a second for all the strings on a release build.
    func testEncodingSpeed() throws {
        let tok = try TokenizerFixtures.tokenizer("qwen2"), strings = try TokenizerFixtures.strings()
        let start = Date()
        var count = 0
        for s in strings { count += tok.encode(s).count }
        XCTAssertGreaterThan(count, 0)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "debug builds included")
    }
}
