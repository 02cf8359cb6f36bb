import Tensor

/// Byte-level BPE, id for id equal to Hugging Face `tokenizers` on the SmolLM2 and Qwen2 tokenizers (and the GPT-2
/// and Llama-3 pre-tokenizers). Encoding a text:
/// 1. added and special tokens written literally in it (`<|im_end|>`) are cut out first, longest first;
/// 2. the text between them is NFC-normalized where the tokenizer asks for it (Qwen2);
/// 3. pre-tokenized into words, numbers, punctuation and whitespace runs (`PreTokenizer`);
/// 4. each piece's UTF-8 bytes become byte symbols, which merge by rank (`BPEModel`).
/// Built from a tokenizer.json (`init(tokenizerJSON:...)`) or from GGUF metadata (`init(ggufTokens:...)`).
public struct BPETokenizer: TextTokenizer {
    public let vocabSize: Int
    public let tokenCount: Int
    public let bos: Int32?
    public let eos: Set<Int32>
    public let pad: Int32

    let model: BPEModel
    let preTokenizer: PreTokenizer
    /// What the tokenizer was built from, to write it out again (`BPEDefinition`).
    public let definition: BPEDefinition
    /// NFC-normalize the text between added tokens (HF `normalizer: NFC`).
    let nfc: Bool
    /// Added tokens matched in the raw text, and those (`normalized: true`) matched after normalization.
    let rawAdded: AddedTokenMatcher
    let normalizedAdded: AddedTokenMatcher
    /// The bytes of every id: token i is bytes[starts[i]..<starts[i + 1]].
    private let bytes: [UInt8]
    private let starts: [Int]
    private let special: [Bool]

    /// The tokenizer from its parts. `vocab` maps a token's byte-level spelling (`Ġthe`) to its id; `merges` are
    /// pairs of such spellings, lowest rank first; `added` are the added tokens (they may also be in `vocab`).
    init(vocab: [String: Int32], merges: [(String, String)], added: [AddedToken], preTokenizer: PreTokenizer,
         nfc: Bool, ignoreMerges: Bool = false, unk: String? = nil, fuseUnk: Bool = false, vocabSize: Int?,
         bos: Int32?, eos: Set<Int32>, pad: Int32) throws {
        var mergeTable = MergeTable(count: merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a], let ib = vocab[b], let ir = vocab[a + b] else {
                throw TensorError("BPE merge \(rank) '\(a) \(b)' names a token that is not in the vocabulary")
            }
            mergeTable.insert(ia, ib, rank: rank, result: ir)
        }
        var unkId: Int32? = nil
        if let unk {
            guard let id = vocab[unk] ?? added.first(where: { $0.content == unk })?.id else {
                throw TensorError("BPE unk_token '\(unk)' is not in the vocabulary")
            }
            unkId = id
        }
        let byteIds = ByteLevel.symbols.map { vocab[String($0)] ?? -1 }
        var wholeWords: [[UInt8]: Int32]? = nil
        if ignoreMerges {
            wholeWords = Dictionary(vocab.map { (ByteLevel.decode($0.key), $0.value) }, uniquingKeysWith: { a, _ in a })
        }
        model = BPEModel(byteIds: byteIds, merges: mergeTable, unk: unkId, fuseUnk: fuseUnk, wholeWords: wholeWords)
        definition = BPEDefinition(vocab: vocab, merges: merges, added: added, preTokenizer: preTokenizer, nfc: nfc,
                                   ignoreMerges: ignoreMerges)
        self.preTokenizer = preTokenizer
        self.nfc = nfc
        rawAdded = AddedTokenMatcher(added.filter { !$0.normalized })
        normalizedAdded = AddedTokenMatcher(added.filter { $0.normalized })

        // Bytes of each id: added tokens give their content, vocabulary tokens their byte-level decoding.
        let maxId = Int(max(vocab.values.max() ?? -1, added.map(\.id).max() ?? -1))
        let size = vocabSize ?? maxId + 1
        guard maxId < size else {
            throw TensorError("the tokenizer has token id \(maxId), beyond the \(size) rows of the embedding")
        }
        var tokenBytes = [[UInt8]](repeating: [], count: size)
        var special = [Bool](repeating: false, count: size)
        for (token, id) in vocab { tokenBytes[Int(id)] = ByteLevel.decode(token) }
        for t in added {
            tokenBytes[Int(t.id)] = Array(t.content.utf8)
            special[Int(t.id)] = t.special
        }
        var starts = [0]
        starts.reserveCapacity(size + 1)
        for b in tokenBytes { starts.append(starts.last! + b.count) }
        bytes = tokenBytes.flatMap { $0 }
        self.starts = starts
        self.special = special
        self.vocabSize = size
        tokenCount = maxId + 1
        self.bos = bos
        self.eos = eos
        self.pad = pad
    }

    /// The tokenizer of GGUF metadata: `tokenizer.ggml.tokens`, `.merges` ("a b" strings), `.token_type` (1 normal,
    /// 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte) and `.pre`, the pre-tokenizer's name in llama.cpp
    /// ("smollm", "qwen2", "gpt-2", "llama-bpe", "default", ...). Control, unknown and user-defined tokens are the
    /// added tokens recognised in text (control and unknown ones special); unused tokens (Qwen2's [PAD151665]...)
    /// are neither encoded nor decoded. `vocabSize` is the embedding's row count.
    public init(ggufTokens tokens: [String], merges: [String], tokenTypes: [Int], preTokenizer: String,
                vocabSize: Int, bos: Int32?, eos: Set<Int32>, pad: Int32) throws {
        guard tokenTypes.count == tokens.count else {
            throw TensorError("GGUF tokenizer: \(tokens.count) tokens but \(tokenTypes.count) token types")
        }
        let (pre, nfc, ignoreMerges) = try Self.preTokenizer(named: preTokenizer)
        var vocab: [String: Int32] = [:]
        var added: [AddedToken] = []
        vocab.reserveCapacity(tokens.count)
        for (i, (token, type)) in zip(tokens, tokenTypes).enumerated() where type != 5 {
            // Added tokens stay in the vocabulary too (as SmolLM2's tokenizer.json has them), so that a merge
            // may name one.
            if vocab[token] == nil { vocab[token] = Int32(i) }
            if type == 2 || type == 3 || type == 4 {
                added.append(AddedToken(id: Int32(i), content: token, special: type != 4))
            }
        }
        let pairs = try merges.enumerated().map { (rank, m) -> (String, String) in
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw TensorError("GGUF tokenizer: merge \(rank) '\(m)' is not two tokens") }
            return (String(parts[0]), String(parts[1]))
        }
        try self.init(vocab: vocab, merges: pairs, added: added, preTokenizer: pre, nfc: nfc,
                      ignoreMerges: ignoreMerges, vocabSize: vocabSize, bos: bos, eos: eos, pad: pad)
    }

    /// llama.cpp's pre-tokenizer names, as the Hugging Face tokenizer.json of those models has them.
    static func preTokenizer(named name: String) throws -> (PreTokenizer, nfc: Bool, ignoreMerges: Bool) {
        switch name {
        case "smollm", "starcoder": return (.smollm, false, false)
        case "qwen2": return (.qwen2, true, false)
        case "llama-bpe", "llama3", "llama-v3": return (.llama3, false, true)
        // "default" is what a converter writes for an unrecognised one; Hugging Face's plain ByteLevel is GPT-2's.
        case "gpt-2", "gpt2", "default": return (.gpt2, false, false)
        default:
            throw TensorError("unknown BPE pre-tokenizer '\(name)' (known: smollm, starcoder, qwen2, llama-bpe, gpt-2, default)")
        }
    }

    // MARK: - TextTokenizer

    public func encode(_ text: String) -> [Int32] {
        var out: [Int32] = []
        var work = BPEWork()
        var text = text
        text.withUTF8 { utf8 in
            for segment in rawAdded.split(utf8) {
                switch segment {
                case .token(let id): out.append(id)
                case .text(let r): encodeBetweenTokens(UnsafeBufferPointer(rebasing: utf8[r]), &out, &work)
                }
            }
        }
        return out
    }

    public func tokenBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0 && Int(id) < vocabSize else { return [] }
        return Array(bytes[starts[Int(id)]..<starts[Int(id) + 1]])
    }

    public func isSpecial(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < vocabSize && special[Int(id)]
    }

    // MARK: - Encoding steps

    /// Text between two raw-matched added tokens: normalize, then find the normalized added tokens.
    private func encodeBetweenTokens(_ raw: UnsafeBufferPointer<UInt8>, _ out: inout [Int32], _ work: inout BPEWork) {
        guard nfc && !raw.allSatisfy({ $0 < 0xCC }) else {
            // Every scalar below U+0300 (lead bytes below 0xCC): already NFC, and nothing composes with it.
            return encodeNormalized(raw, &out, &work)
        }
        // The standard library's NFC (`_nfcCodeUnits`: public, underscored, what String comparison and Regex use).
        // It equals HF's on every code point alone, and on 50,000 random combining sequences each of Latin,
        // Greek, Cyrillic, Vietnamese, Hangul, Hebrew and Arabic. It differs in two corners: marks added since
        // Unicode 9, which HF's normalizer (unicode-normalization-alignments, older tables) leaves unordered
        // (U+09FE, U+1DF8, U+1DFA), and Tibetan vowel signs U+0F73/75/81 after another mark, whose non-starter
        // decompositions Swift leaves unordered. Foundation's precomposedStringWithCanonicalMapping has the same
        // two and also misses Hangul LV + T compositions.
        let normalized = String(decoding: raw, as: UTF8.self)._nfcCodeUnits
        normalized.withUnsafeBufferPointer { encodeNormalized($0, &out, &work) }
    }

    private func encodeNormalized(_ text: UnsafeBufferPointer<UInt8>, _ out: inout [Int32], _ work: inout BPEWork) {
        if normalizedAdded.isEmpty { return encodePieces(text, &out, &work) }
        for segment in normalizedAdded.split(text) {
            switch segment {
            case .token(let id): out.append(id)
            case .text(let r): encodePieces(UnsafeBufferPointer(rebasing: text[r]), &out, &work)
            }
        }
    }

    /// Pre-tokenize, then BPE each piece.
    private func encodePieces(_ text: UnsafeBufferPointer<UInt8>, _ out: inout [Int32], _ work: inout BPEWork) {
        let scalars = ScalarText(text)
        preTokenizer.split(scalars) { piece in
            let bytes = scalars.offsets[piece.lowerBound]..<scalars.offsets[piece.upperBound]
            model.encode(UnsafeBufferPointer(rebasing: text[bytes]), into: &out, work: &work)
        }
    }
}
