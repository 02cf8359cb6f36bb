import Foundation
import Tensor

/// A byte-level BPE tokenizer as its files spell it: vocabulary, merges, added tokens and the pre-tokenizer.
/// `BPETokenizer` keeps it so that a model can be written out again, as a Hugging Face tokenizer.json or as
/// llama.cpp's GGUF metadata, whichever file it came from.
public struct BPEDefinition: Sendable {
    /// Byte-level spelling (`Ġthe`) -> id.
    let vocab: [String: Int32]
    /// Lowest rank first.
    let merges: [(String, String)]
    let added: [AddedToken]
    let preTokenizer: PreTokenizer
    let nfc: Bool
    let ignoreMerges: Bool

    /// llama.cpp's name of the pre-tokenizer (`tokenizer.ggml.pre`).
    var ggufPreName: String {
        switch preTokenizer {
        case .smollm: return "smollm"
        case .qwen2: return "qwen2"
        case .llama3: return "llama-bpe"
        default: return "gpt-2"
        }
    }

    /// tokenizer.json in the structure of the official files (SmolLM2: Digits + ByteLevel; Qwen2 and Llama-3:
    /// NFC where asked, Split(regex, Isolated) + ByteLevel; GPT-2: ByteLevel with its regex).
    public func tokenizerJSON() throws -> Data {
        func byteLevel(useRegex: Bool, trimOffsets: Bool) -> [String: Any] {
            ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": trimOffsets, "use_regex": useRegex]
        }
        var stages: [[String: Any]] = []
        var regexInByteLevel = false
        for stage in preTokenizer.stages {
            switch stage {
            case .digits(let individual): stages.append(["type": "Digits", "individual_digits": individual])
            case .regex(.gpt2): regexInByteLevel = true
            case .regex(let p):
                stages.append(["type": "Split", "pattern": ["Regex": p.regex], "behavior": "Isolated", "invert": false])
            }
        }
        stages.append(byteLevel(useRegex: regexInByteLevel, trimOffsets: regexInByteLevel))
        let pre: [String: Any] = stages.count == 1 ? stages[0] : ["type": "Sequence", "pretokenizers": stages]
        let added: [[String: Any]] = added.sorted { $0.id < $1.id }.map {
            ["id": Int($0.id), "content": $0.content, "single_word": $0.singleWord, "lstrip": $0.lstrip,
             "rstrip": $0.rstrip, "normalized": $0.normalized, "special": $0.special]
        }
        let model: [String: Any] = [
            "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
            "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignoreMerges,
            "vocab": vocab.mapValues { Int($0) }, "merges": merges.map { [$0.0, $0.1] },
        ]
        let json: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added,
            "normalizer": nfc ? ["type": "NFC"] as [String: Any] : NSNull(), "pre_tokenizer": pre,
            "post_processor": byteLevel(useRegex: false, trimOffsets: false),
            "decoder": byteLevel(useRegex: false, trimOffsets: false), "model": model,
        ]
        return try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    /// GGUF `tokenizer.ggml.tokens` and `.token_type` for `rows` ids: normal tokens (1), special added tokens
    /// (3, control), other added tokens (4, user-defined), and "[PAD<id>]" for rows no token uses (5, unused).
    func ggufTokens(rows: Int) -> (tokens: [String], types: [Int32]) {
        var tokens = (0..<rows).map { "[PAD\($0)]" }, types = [Int32](repeating: 5, count: rows)
        for (t, id) in vocab where Int(id) < rows { tokens[Int(id)] = t; types[Int(id)] = 1 }
        for a in added where Int(a.id) < rows { tokens[Int(a.id)] = a.content; types[Int(a.id)] = a.special ? 3 : 4 }
        return (tokens, types)
    }

    var ggufMerges: [String] { merges.map { "\($0.0) \($0.1)" } }
}
