import Foundation
import Tensor

extension BPETokenizer {
    /// The tokenizer of a Hugging Face tokenizer.json: `model` (type BPE: vocab, merges as "a b" strings or
    /// ["a", "b"] pairs, ignore_merges, unk_token), `added_tokens`, `normalizer` (none, NFC, or a Sequence of NFC)
    /// and `pre_tokenizer` (ByteLevel, alone or last in a Sequence after Split with a known regex or Digits).
    /// The special ids are not reliably in tokenizer.json: the caller passes them (config.json,
    /// generation_config.json). `vocabSize` is the embedding's row count when known (it may exceed the tokenizer's
    /// ids: Qwen2 has 151,936 rows for 151,665 tokens). Anything else throws, with what was not understood.
    public init(tokenizerJSON data: Data, vocabSize: Int? = nil, bos: Int32?, eos: Set<Int32>, pad: Int32) throws {
        let file: TokenizerFile
        do {
            file = try JSONDecoder().decode(TokenizerFile.self, from: data)
        } catch let error as TensorError {
            throw error
        } catch {
            throw TensorError("tokenizer.json: \(error)")
        }
        let m = file.model
        if let prefix = m.continuing_subword_prefix, !prefix.isEmpty {
            throw TensorError("tokenizer.json: continuing_subword_prefix '\(prefix)' is not supported (not byte-level BPE)")
        }
        if let suffix = m.end_of_word_suffix, !suffix.isEmpty {
            throw TensorError("tokenizer.json: end_of_word_suffix '\(suffix)' is not supported (not byte-level BPE)")
        }
        if m.byte_fallback == true {
            throw TensorError("tokenizer.json: byte_fallback is not supported with a byte-level vocabulary")
        }
        if let dropout = m.dropout, dropout > 0 {
            throw TensorError("tokenizer.json: BPE dropout \(dropout) is not supported")
        }
        try Self.checkIds(m.vocab.map { ($0.key, $0.value) } + (file.added_tokens ?? []).map { ($0.content, $0.id) },
                          vocabSize: vocabSize)
        let added = (file.added_tokens ?? []).map {
            AddedToken(id: Int32($0.id), content: $0.content, special: $0.special ?? false, lstrip: $0.lstrip ?? false,
                       rstrip: $0.rstrip ?? false, singleWord: $0.single_word ?? false,
                       normalized: $0.normalized ?? !($0.special ?? false))
        }
        do {
            try self.init(vocab: m.vocab.mapValues { Int32($0) }, merges: m.merges, added: added,
                          preTokenizer: try Self.preTokenizer(file.pre_tokenizer), nfc: try Self.isNFC(file.normalizer),
                          ignoreMerges: m.ignore_merges ?? false, unk: m.unk_token, fuseUnk: m.fuse_unk ?? false,
                          vocabSize: vocabSize, bos: bos, eos: eos, pad: pad)
        } catch let error as TensorError where !error.message.hasPrefix("tokenizer.json: ") {
            throw TensorError("tokenizer.json: \(error.message)")
        }
    }

    /// Token ids are Int32, and the tokenizer keeps a table entry for every id up to the largest. Without the
    /// embedding's row count (`vocabSize`, which bounds them) the ids must run from 0 with few gaps (no more ids
    /// without a token than with one, plus 256), so that the table grows with the file, not with one large id.
    private static func checkIds(_ tokens: [(String, Int)], vocabSize: Int?) throws {
        for (token, id) in tokens where !(0...Int(Int32.max)).contains(id) {
            throw TensorError("tokenizer.json: token \(token.debugDescription.prefix(80)) has id \(id), outside 0...\(Int32.max)")
        }
        guard vocabSize == nil, let top = tokens.max(by: { $0.1 < $1.1 }) else { return }
        let count = Set(tokens.map(\.1)).count, gaps = top.1 + 1 - count
        if gaps > count + 256 {
            throw TensorError("tokenizer.json: token \(top.0.debugDescription.prefix(80)) has id \(top.1), but the file has "
                              + "\(count) ids: \(gaps) ids below it would have no token (at most \(count + 256) may; the ids "
                              + "of a tokenizer run from 0 with few gaps)")
        }
    }

    /// True for NFC, false for none; other normalizers throw.
    private static func isNFC(_ n: TokenizerFile.Component?) throws -> Bool {
        guard let n else { return false }
        switch n.type {
        case "NFC": return true
        case "Sequence":
            let kinds = try (n.normalizers ?? []).map { try isNFC($0) }
            return kinds.contains(true)
        default: throw TensorError("tokenizer.json: normalizer \(n.type) is not supported (only NFC)")
        }
    }

    /// The stages of a pre-tokenizer; it must end in ByteLevel, which maps the bytes to their symbols.
    private static func preTokenizer(_ p: TokenizerFile.Component?) throws -> PreTokenizer {
        guard let p else { throw TensorError("tokenizer.json: no pre_tokenizer (a byte-level BPE needs ByteLevel)") }
        func flatten(_ c: TokenizerFile.Component) -> [TokenizerFile.Component] {
            c.type == "Sequence" ? (c.pretokenizers ?? []).flatMap(flatten) : [c]
        }
        let steps = flatten(p)
        guard let last = steps.last, last.type == "ByteLevel" else {
            throw TensorError("tokenizer.json: the pre-tokenizer must end in ByteLevel, it is \(steps.map(\.type))")
        }
        var stages: [PreTokenizer.Stage] = []
        for step in steps {
            switch step.type {
            case "ByteLevel":
                if step.add_prefix_space == true {
                    throw TensorError("tokenizer.json: ByteLevel add_prefix_space true is not supported")
                }
                if step.use_regex ?? true { stages.append(.regex(.gpt2)) }
            case "Split":
                guard let regex = step.pattern?.regex, let pattern = SplitPattern.named(regex: regex) else {
                    throw TensorError("tokenizer.json: unknown Split pattern \(step.pattern?.regex ?? step.pattern?.string ?? "nil") "
                                      + "(known: the GPT-2, Qwen2 and Llama-3 regexes)")
                }
                guard step.behavior == "Isolated", step.invert != true else {
                    throw TensorError("tokenizer.json: Split behavior \(step.behavior ?? "nil") invert \(step.invert ?? false) "
                                      + "is not supported (only Isolated)")
                }
                stages.append(.regex(pattern))
            case "Digits":
                stages.append(.digits(individual: step.individual_digits ?? false))
            default:
                throw TensorError("tokenizer.json: unknown pre-tokenizer \(step.type)")
            }
        }
        return PreTokenizer(stages: stages)
    }
}

/// The parts of tokenizer.json we read (field names as the file spells them).
private struct TokenizerFile: Decodable {
    let model: Model
    let added_tokens: [Added]?
    let normalizer: Component?
    let pre_tokenizer: Component?

    struct Added: Decodable {
        let id: Int
        let content: String
        let special: Bool?
        let lstrip: Bool?
        let rstrip: Bool?
        let single_word: Bool?
        let normalized: Bool?
    }

    /// A normalizer or pre-tokenizer, possibly a Sequence of them.
    struct Component: Decodable {
        let type: String
        let normalizers: [Component]?
        let pretokenizers: [Component]?
        let pattern: Pattern?
        let behavior: String?
        let invert: Bool?
        let individual_digits: Bool?
        let add_prefix_space: Bool?
        let use_regex: Bool?

        struct Pattern: Decodable {
            let regex: String?
            let string: String?
            enum CodingKeys: String, CodingKey { case regex = "Regex", string = "String" }
        }
    }

    struct Model: Decodable {
        let vocab: [String: Int]
        let merges: [(String, String)]
        let unk_token: String?
        let fuse_unk: Bool?
        let byte_fallback: Bool?
        let ignore_merges: Bool?
        let continuing_subword_prefix: String?
        let end_of_word_suffix: String?
        let dropout: Double?

        enum CodingKeys: String, CodingKey {
            case type, vocab, merges, unk_token, fuse_unk, byte_fallback, ignore_merges, continuing_subword_prefix,
                 end_of_word_suffix, dropout
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            // The type first: a WordPiece or Unigram model would fail below with a less useful message.
            let type = try c.decodeIfPresent(String.self, forKey: .type) ?? "BPE"
            guard type == "BPE" else {
                throw TensorError("tokenizer.json: model type \(type) is not supported (only byte-level BPE)")
            }
            vocab = try c.decode([String: Int].self, forKey: .vocab)
            // Merges: "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20).
            if let lines = try? c.decode([String].self, forKey: .merges) {
                merges = try lines.enumerated().map { rank, line in
                    let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw TensorError("tokenizer.json: merge \(rank) '\(line)' is not two tokens") }
                    return (String(parts[0]), String(parts[1]))
                }
            } else {
                merges = try c.decode([[String]].self, forKey: .merges).enumerated().map { rank, pair in
                    guard pair.count == 2 else { throw TensorError("tokenizer.json: merge \(rank) \(pair) is not two tokens") }
                    return (pair[0], pair[1])
                }
            }
            unk_token = try c.decodeIfPresent(String.self, forKey: .unk_token)
            fuse_unk = try c.decodeIfPresent(Bool.self, forKey: .fuse_unk)
            byte_fallback = try c.decodeIfPresent(Bool.self, forKey: .byte_fallback)
            ignore_merges = try c.decodeIfPresent(Bool.self, forKey: .ignore_merges)
            continuing_subword_prefix = try c.decodeIfPresent(String.self, forKey: .continuing_subword_prefix)
            end_of_word_suffix = try c.decodeIfPresent(String.self, forKey: .end_of_word_suffix)
            dropout = try c.decodeIfPresent(Double.self, forKey: .dropout)
        }
    }
}
