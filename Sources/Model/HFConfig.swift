import Foundation
import Tensor

/// The special token ids a model's files name (config.json, generation_config.json or GGUF metadata).
public struct SpecialTokens: Codable, Equatable, Sendable {
    public var bos: Int32?
    /// Every id that ends generation.
    public var eos: [Int32]
    public var pad: Int32?

    public init(bos: Int32?, eos: [Int32], pad: Int32?) { self.bos = bos; self.eos = eos; self.pad = pad }

    /// The byte tokenizer's (the toy policy).
    public static let byteTokenizer = SpecialTokens(bos: ByteTokenizer.bos, eos: [ByteTokenizer.eos], pad: ByteTokenizer.pad)
}

/// Hugging Face `config.json` of a Llama-family causal LM, read leniently (optional keys may be absent, the
/// rope settings may sit under `rope_parameters`, `eos_token_id` may be a list) and written in the form
/// transformers' LlamaForCausalLM / Qwen2ForCausalLM load unchanged.
public enum HFConfig {
    /// model_type values we load, and the architecture each runs as.
    static let architectures = ["llama": "llama", "mistral": "llama", "qwen2": "qwen2"]

    public static func read(_ data: Data, path: String) throws -> (PolicyConfig, SpecialTokens) {
        func fail(_ why: String) -> TensorError { TensorError("\(path): \(why)") }
        guard let json = try? JSONSerialization.jsonObject(with: data), let d = json as? [String: Any] else {
            throw fail("not a JSON object")
        }
        let j = JSONFields(d, fail: fail)
        let modelType = try j.string("model_type")
            ?? ((d["architectures"] as? [String])?.contains("LlamaForCausalLM") == true ? "llama" : nil)
        guard let modelType, let arch = architectures[modelType] else {
            throw fail("model_type '\(modelType ?? "(none)")' is not supported: SwiftTIR loads llama, mistral and qwen2 "
                       + "(Llama, SmolLM2, Mistral, Qwen2 and Qwen2.5 checkpoints)")
        }
        if let act = try j.string("hidden_act"), act != "silu" {
            throw fail("hidden_act '\(act)' is not supported (only silu)")
        }
        if arch == "llama", try j.bool("attention_bias") == true {
            throw fail("attention_bias true (biases on every attention projection) is not supported for llama")
        }
        if try j.bool("mlp_bias") == true { throw fail("mlp_bias true is not supported") }
        let dim = try j.requiredInt("hidden_size"), heads = try j.requiredInt("num_attention_heads")
        guard dim > 0, heads > 0 else { throw fail("hidden_size and num_attention_heads must be positive") }
        // Rope settings: top level (transformers 4) or under rope_parameters (transformers 5).
        let ropeParams = d["rope_parameters"] as? [String: Any] ?? [:]
        let rp = JSONFields(ropeParams, fail: fail)
        let theta = try rp.float("rope_theta") ?? j.float("rope_theta") ?? 10000
        var scaling: RopeScaling?
        let scalingDict = (d["rope_scaling"] as? [String: Any]) ?? (ropeParams.isEmpty ? nil : ropeParams)
        if let s = scalingDict {
            let sf = JSONFields(s, fail: fail)
            let type = try sf.string("rope_type") ?? sf.string("type") ?? "default"
            switch type {
            case "default": break
            case "llama3":
                scaling = RopeScaling(factor: try sf.float("factor") ?? 8, lowFreqFactor: try sf.float("low_freq_factor") ?? 1,
                                      highFreqFactor: try sf.float("high_freq_factor") ?? 4,
                                      originalContext: try sf.int("original_max_position_embeddings") ?? 8192)
            default:
                throw fail("rope scaling type '\(type)' is not supported (default and llama3 are)")
            }
        }
        let headDim = try j.int("head_dim") ?? 0
        let config = PolicyConfig(
            architecture: arch, vocab: try j.requiredInt("vocab_size"), dim: dim,
            layers: try j.requiredInt("num_hidden_layers"), heads: heads,
            kvHeads: try j.int("num_key_value_heads").map { $0 == heads ? 0 : $0 } ?? 0,   // 0: as many as heads
            headSize: headDim == dim / heads ? 0 : headDim, ffn: try j.requiredInt("intermediate_size"),
            context: try j.int("max_position_embeddings") ?? 2048,
            tiedHead: try j.bool("tie_word_embeddings") ?? false, qkvBias: arch == "qwen2",
            ropeTheta: theta, ropeScaling: scaling, normEps: try j.float("rms_norm_eps") ?? 1e-6)
        do { try config.validate(FieldCheck("config")) } catch { throw fail("\(error)") }
        // Ids outside the vocabulary (old conversions write pad_token_id -1) name no token: ignored.
        func known(_ id: Int32?) -> Int32? { id.flatMap { $0 >= 0 && Int($0) < config.vocab ? $0 : nil } }
        let special = SpecialTokens(bos: known(try j.tokenId("bos_token_id")),
                                    eos: try j.tokenIds("eos_token_id").compactMap(known),
                                    pad: known(try j.tokenId("pad_token_id")))
        return (config, special)
    }

    /// eos_token_id of generation_config.json (an int or a list), when that file names one.
    public static func generationEOS(_ data: Data) -> [Int32] {
        guard let d = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return [] }
        return (try? JSONFields(d, fail: { TensorError($0) }).tokenIds("eos_token_id")) ?? []
    }

    /// config.json for `c`, with the model's special tokens.
    public static func encode(_ c: PolicyConfig, special: SpecialTokens) throws -> Data {
        var d: [String: Any] = [
            "architectures": [c.architecture == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"],
            "model_type": c.architecture, "vocab_size": c.vocab, "hidden_size": c.dim,
            "intermediate_size": c.ffn, "num_hidden_layers": c.layers, "num_attention_heads": c.heads,
            "num_key_value_heads": c.kvHeadCount, "head_dim": c.headDim, "max_position_embeddings": c.context,
            "rms_norm_eps": Double(c.normEps), "rope_theta": Double(c.ropeTheta), "tie_word_embeddings": c.tiedHead,
            "hidden_act": "silu", "torch_dtype": "float32",
        ]
        if c.architecture == "llama" { d["attention_bias"] = false; d["mlp_bias"] = false }
        if let s = c.ropeScaling {
            d["rope_scaling"] = ["rope_type": "llama3", "factor": Double(s.factor), "low_freq_factor": Double(s.lowFreqFactor),
                                 "high_freq_factor": Double(s.highFreqFactor),
                                 "original_max_position_embeddings": s.originalContext]
        }
        if let b = special.bos { d["bos_token_id"] = Int(b) }
        if special.eos.count == 1 { d["eos_token_id"] = Int(special.eos[0]) } else if !special.eos.isEmpty {
            d["eos_token_id"] = special.eos.map { Int($0) }
        }
        if let p = special.pad { d["pad_token_id"] = Int(p) }
        return try JSONSerialization.data(withJSONObject: d, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }
}

/// Typed, lenient access to a JSON object's fields: absent or null is nil; a present value of the wrong type
/// is an error naming the key.
struct JSONFields {
    let d: [String: Any]
    let fail: (String) -> TensorError

    init(_ d: [String: Any], fail: @escaping (String) -> TensorError) { self.d = d; self.fail = fail }

    private func present(_ key: String) -> Any? { d[key].flatMap { $0 is NSNull ? nil : $0 } }

    func string(_ key: String) throws -> String? {
        guard let v = present(key) else { return nil }
        guard let s = v as? String else { throw fail("\(key) is not a string") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = present(key) else { return nil }
        guard let b = v as? Bool else { throw fail("\(key) is not true or false") }
        return b
    }

    func int(_ key: String) throws -> Int? {
        guard let v = present(key) else { return nil }
        guard let n = v as? NSNumber, let i = Self.exactInt(n) else { throw fail("\(key) is not an integer (got \(v))") }
        return i
    }

    func requiredInt(_ key: String) throws -> Int {
        guard let i = try int(key) else { throw fail("\(key) is missing") }
        return i
    }

    /// An integer or a list of integers (eos_token_id).
    func ints(_ key: String) throws -> [Int] {
        guard let v = present(key) else { return [] }
        if let list = v as? [Any] {
            return try list.map { x in
                guard let n = x as? NSNumber, let i = Self.exactInt(n) else { throw fail("\(key) holds a non-integer (\(x))") }
                return i
            }
        }
        return [try requiredInt(key)]
    }

    /// A token id (Int32, the model's id type).
    func tokenId(_ key: String) throws -> Int32? {
        try int(key).map { try Self.tokenId($0, key, fail) }
    }

    /// A token id or a list of them (eos_token_id).
    func tokenIds(_ key: String) throws -> [Int32] {
        try ints(key).map { try Self.tokenId($0, key, fail) }
    }

    private static func tokenId(_ i: Int, _ key: String, _ fail: (String) -> TensorError) throws -> Int32 {
        guard let id = Int32(exactly: i) else { throw fail("\(key) \(i) is not a token id (outside the 32-bit range)") }
        return id
    }

    func float(_ key: String) throws -> Float? {
        guard let v = present(key) else { return nil }
        guard let n = v as? NSNumber, n.doubleValue.isFinite else { throw fail("\(key) is not a number (got \(v))") }
        guard Float(n.doubleValue).isFinite else { throw fail("\(key) \(n.doubleValue) is beyond the range of Float") }
        return Float(n.doubleValue)
    }

    private static func exactInt(_ n: NSNumber) -> Int? {
        let x = n.doubleValue
        guard x.rounded() == x, abs(x) < 0x1p53 else { return nil }
        return Int(x)
    }
}
