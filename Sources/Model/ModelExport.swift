import Foundation
import Tensor

/// Writes a model where users serve models: a Hugging Face directory that transformers loads unchanged, or a
/// GGUF file (F32 or F16 matrices) that llama.cpp loads. Whatever the model was loaded from.
public enum ModelExport {
    /// config.json, model.safetensors (fp32) and, for a BPE model, generation_config.json, tokenizer.json and
    /// tokenizer_config.json (with the chat template). Atomic: the directory appears complete or not at all.
    public static func writeHuggingFace(_ m: LanguageModel, to dir: URL) throws {
        try Checkpoint.save(m.policy, to: dir, special: m.special) { tmp in try writeTokenizerFiles(m, into: tmp) }
    }

    /// What a BPE model's directory holds beside config.json and the weights: generation_config.json,
    /// tokenizer.json and tokenizer_config.json (with the chat template), each fsynced. Nothing for the byte
    /// tokenizer (the toy policy needs no file).
    public static func writeTokenizerFiles(_ m: LanguageModel, into dir: URL) throws {
        guard let bpe = m.tokenizer as? BPETokenizer else { return }
        let special = m.special
        var generation: [String: Any] = ["eos_token_id": special.eos.map { Int($0) }]
        if let b = special.bos { generation["bos_token_id"] = Int(b) }
        if let p = special.pad { generation["pad_token_id"] = Int(p) }
        try writeSynced(try json(generation), to: dir.appendingPathComponent("generation_config.json"))
        try writeSynced(try bpe.definition.tokenizerJSON(), to: dir.appendingPathComponent("tokenizer.json"))
        func name(_ id: Int32?) -> Any { id.map { String(decoding: bpe.tokenBytes($0), as: UTF8.self) } ?? NSNull() }
        var config: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": special.bos != nil,
            "add_prefix_space": false, "clean_up_tokenization_spaces": false,
            "bos_token": name(special.bos), "eos_token": name(special.eos.first), "pad_token": name(special.pad),
            "model_max_length": m.policy.config.context,
        ]
        if let t = m.chatTemplate { config["chat_template"] = t }
        try writeSynced(try json(config), to: dir.appendingPathComponent("tokenizer_config.json"))
    }

    /// A GGUF v3 file in llama.cpp's layout for the model's architecture: 2-D weights as `type` (.f32 or .f16),
    /// norms and biases F32, q/k rows permuted back for llama (its RoPE pairs adjacent rows), the tokenizer as
    /// `tokenizer.ggml.*` metadata.
    public static func writeGGUF(_ m: LanguageModel, to url: URL, type: GGMLType = .f32) throws {
        guard type == .f32 || type == .f16 else { throw TensorError("GGUF export writes F32 or F16, not \(type.name)") }
        guard let bpe = m.tokenizer as? BPETokenizer else {
            throw TensorError("GGUF export needs a BPE tokenizer; this model uses the byte tokenizer (a toy policy)")
        }
        let c = m.policy.config, arch = c.architecture, a = m.policy.arena
        guard c.ropeScaling == nil else {
            throw TensorError("GGUF export of Llama-3 rope scaling (a rope_freqs tensor) is not supported; "
                              + "export a Hugging Face directory instead")
        }
        let (tokens, types) = bpe.definition.ggufTokens(rows: c.vocab)
        var meta: [(String, GGUFValue)] = [
            ("general.architecture", .string(arch)), ("general.name", .string(m.url.lastPathComponent)),
            ("general.file_type", .u32(type == .f32 ? 0 : 1)),
            ("\(arch).context_length", .u32(UInt32(c.context))), ("\(arch).embedding_length", .u32(UInt32(c.dim))),
            ("\(arch).block_count", .u32(UInt32(c.layers))), ("\(arch).feed_forward_length", .u32(UInt32(c.ffn))),
            ("\(arch).attention.head_count", .u32(UInt32(c.heads))),
            ("\(arch).attention.head_count_kv", .u32(UInt32(c.kvHeadCount))),
            ("\(arch).attention.key_length", .u32(UInt32(c.headDim))),
            ("\(arch).attention.value_length", .u32(UInt32(c.headDim))),
            ("\(arch).rope.dimension_count", .u32(UInt32(c.headDim))),
            ("\(arch).rope.freq_base", .f32(c.ropeTheta)),
            ("\(arch).attention.layer_norm_rms_epsilon", .f32(c.normEps)),
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(bpe.definition.ggufPreName)),
            ("tokenizer.ggml.tokens", .array(tokens.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(types.map { .i32($0) })),
            ("tokenizer.ggml.merges", .array(bpe.definition.ggufMerges.map { .string($0) })),
            ("tokenizer.ggml.add_bos_token", .bool(m.special.bos != nil)),
        ]
        if let b = m.special.bos { meta.append(("tokenizer.ggml.bos_token_id", .u32(UInt32(b)))) }
        if let e = m.special.eos.first { meta.append(("tokenizer.ggml.eos_token_id", .u32(UInt32(e)))) }
        if let p = m.special.pad { meta.append(("tokenizer.ggml.padding_token_id", .u32(UInt32(p)))) }
        if let t = m.chatTemplate { meta.append(("tokenizer.chat_template", .string(t))) }

        // Tensors in arena order under their GGUF names; q and k of llama go through permuted copies.
        var permuted: [String: UnsafeMutableBufferPointer<Float>] = [:]
        defer { permuted.values.forEach { $0.deallocate() } }
        for e in a.entries where arch == "llama" && (e.name.hasSuffix("q_proj.weight") || e.name.hasSuffix("k_proj.weight")) {
            let heads = e.name.hasSuffix("q_proj.weight") ? c.heads : c.kvHeadCount
            let buf = UnsafeMutableBufferPointer<Float>.allocate(capacity: e.count)
            GGUFModel.reorderQK(a.data + e.offset, into: buf.baseAddress!, heads: heads, headDim: c.headDim, cols: c.dim,
                                toGGUF: true)
            permuted[e.name] = buf
        }
        let tensors = a.entries.map { e -> (name: String, dims: [Int], type: GGMLType, data: UnsafeBufferPointer<Float>) in
            let data = permuted[e.name].map { UnsafeBufferPointer($0) } ?? UnsafeBufferPointer(start: a.data + e.offset, count: e.count)
            return (GGUFModel.ggufName(e.name), e.shape, e.shape.count == 2 ? type : .f32, data)
        }
        try GGUFWriter.write(to: url, metadata: meta, tensors: tensors)
    }

    private static func json(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }
}
