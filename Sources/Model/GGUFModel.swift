import Foundation
import Tensor

/// A Llama-family model in a GGUF file (llama.cpp's format): the architecture from the `{arch}.*` keys, the
/// weights dequantized to fp32 straight into the policy's arena, the tokenizer and chat template from the
/// `tokenizer.*` keys. llama.cpp's converter permutes the rows of q and k for the llama architecture (its RoPE
/// rotates adjacent pairs); loading undoes that, so our rotate-half RoPE applies. qwen2 is not permuted.
enum GGUFModel {
    /// PolicyConfig and special tokens from the metadata.
    static func config(_ g: GGUFFile) throws -> (PolicyConfig, SpecialTokens) {
        func fail(_ why: String) -> TensorError { TensorError("GGUF \(g.url.path): \(why)") }
        let arch = try g.string("general.architecture")
        guard arch == "llama" || arch == "qwen2" else {
            throw fail("architecture '\(arch)' is not supported: SwiftTIR loads llama (Llama, SmolLM2, Mistral) and qwen2")
        }
        if g.tensor(named: "rope_freqs.weight") != nil {
            throw fail("the file carries rope_freqs (Llama-3.1 rope scaling baked into frequency factors), which "
                       + "SwiftTIR does not load from GGUF; load the Hugging Face directory instead")
        }
        guard let embed = g.tensor(named: "token_embd.weight"), embed.dims.count == 2 else {
            throw fail("tensor token_embd.weight is missing or not 2-D")
        }
        let dim = try g.int("\(arch).embedding_length"), heads = try g.int("\(arch).attention.head_count")
        let kv = try g.optionalInt("\(arch).attention.head_count_kv") ?? heads
        let keyLength = try g.optionalInt("\(arch).attention.key_length") ?? 0
        guard heads > 0, dim > 0 else { throw fail("embedding_length and head_count must be positive") }
        let config = PolicyConfig(
            architecture: arch, vocab: embed.dims[1], dim: dim, layers: try g.int("\(arch).block_count"), heads: heads,
            kvHeads: kv == heads ? 0 : kv, headSize: keyLength == dim / heads ? 0 : keyLength,
            ffn: try g.int("\(arch).feed_forward_length"),
            context: try g.optionalInt("\(arch).context_length") ?? 2048,
            tiedHead: g.tensor(named: "output.weight") == nil, qkvBias: arch == "qwen2",
            ropeTheta: Float(try g.optionalFloat("\(arch).rope.freq_base") ?? 10000),
            normEps: Float(try g.optionalFloat("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-5))
        do { try config.validate(FieldCheck("gguf")) } catch { throw fail("\(error)") }
        let bos = try g.optionalInt("tokenizer.ggml.bos_token_id")
        let addBOS = try g.optionalBool("tokenizer.ggml.add_bos_token") ?? false
        var eos = [try g.optionalInt("tokenizer.ggml.eos_token_id"), try g.optionalInt("tokenizer.ggml.eot_token_id")]
            .compactMap { $0 }.map(Int32.init)
        // Like llama.cpp, also end generation at the control tokens that close a turn or a document.
        if let tokens = try g.optionalStrings("tokenizer.ggml.tokens"), let types = try g.optionalInts("tokenizer.ggml.token_type") {
            for (id, t) in tokens.enumerated() where id < types.count && types[id] == 3
                && endOfGeneration.contains(t) && !eos.contains(Int32(id)) {
                eos.append(Int32(id))
            }
        }
        let special = SpecialTokens(bos: addBOS ? bos.map(Int32.init) : nil, eos: eos,
                                    pad: try g.optionalInt("tokenizer.ggml.padding_token_id").map(Int32.init))
        return (config, special)
    }

    static let endOfGeneration: Set<String> = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"]

    /// GGUF tensor name of each arena entry.
    static func ggufName(_ hf: String) -> String {
        let fixed = ["model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                     "lm_head.weight": "output.weight"]
        if let n = fixed[hf] { return n }
        let parts = hf.split(separator: ".")            // model.layers.N.<module>.<proj>.<weight|bias>
        guard parts.count >= 5, parts[1] == "layers" else { return hf }
        let module = parts[3...].dropLast().joined(separator: "."), kind = parts.last!
        let map = ["input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                   "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
                   "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"]
        return "blk.\(parts[2]).\(map[module] ?? module).\(kind)"
    }

    /// Fills every arena entry from the file: shapes checked, q/k rows un-permuted for llama, values finite.
    static func load(_ g: GGUFFile, into policy: Policy) throws {
        let c = policy.config, a = policy.arena
        for e in a.entries {
            let name = ggufName(e.name)
            guard let t = g.tensor(named: name) else {
                throw TensorError("GGUF \(g.url.path) is missing tensor \(name) (\(e.name))")
            }
            guard t.shape == e.shape else {
                throw TensorError("GGUF \(g.url.path): \(name) has shape \(t.shape) (HF order), the config implies \(e.shape)")
            }
            let out = a.data + e.offset
            let permutedHeads = c.architecture == "llama" && e.name.hasSuffix("q_proj.weight") ? c.heads
                : c.architecture == "llama" && e.name.hasSuffix("k_proj.weight") ? c.kvHeadCount : 0
            if permutedHeads > 0 {
                let tmp = try g.dequantize(t)
                tmp.withUnsafeBufferPointer {
                    reorderQK($0.baseAddress!, into: out, heads: permutedHeads, headDim: c.headDim, cols: c.dim, toGGUF: false)
                }
            } else {
                try g.dequantize(t, into: out)
            }
            try requireFinite(out, count: e.count, name: name, source: "GGUF \(g.url.path)")
        }
    }

    /// llama.cpp's converter permutes q and k rows within each head as `w.reshape(n, 2, hd/2, cols).swapaxes(1, 2)`:
    /// HF row s * hd/2 + i becomes GGUF row 2i + s. `toGGUF` applies it (writing), otherwise it is undone
    /// (loading). src, out: [n * hd, cols].
    static func reorderQK(_ src: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, heads n: Int, headDim hd: Int,
                          cols: Int, toGGUF: Bool) {
        let half = hd / 2
        for h in 0..<n {
            for i in 0..<half {
                for s in 0..<2 {
                    let hf = h * hd + s * half + i, gguf = h * hd + 2 * i + s
                    let (from, to) = toGGUF ? (hf, gguf) : (gguf, hf)
                    (out + to * cols).update(from: src + from * cols, count: cols)
                }
            }
        }
    }
}
