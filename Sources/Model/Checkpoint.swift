import Foundation
import Tensor

/// Hugging Face LlamaForCausalLM `config.json` fields (what `transformers` needs to load our checkpoints).
struct HFLlamaConfig: Codable {
    var architectures = ["LlamaForCausalLM"]
    var model_type = "llama"
    var vocab_size: Int
    var hidden_size: Int
    var intermediate_size: Int
    var num_hidden_layers: Int
    var num_attention_heads: Int
    var num_key_value_heads: Int
    var max_position_embeddings: Int
    var rms_norm_eps: Float
    var rope_theta: Float
    var tie_word_embeddings: Bool
    var hidden_act = "silu"
    var attention_bias = false
    var mlp_bias = false
    var bos_token_id = Int(ByteTokenizer.bos)
    var eos_token_id = Int(ByteTokenizer.eos)
    var pad_token_id = Int(ByteTokenizer.pad)
    var torch_dtype = "float32"

    init(_ c: PolicyConfig) {
        vocab_size = c.vocab; hidden_size = c.dim; intermediate_size = c.ffn; num_hidden_layers = c.layers
        num_attention_heads = c.heads; num_key_value_heads = c.heads; max_position_embeddings = c.context
        rms_norm_eps = c.normEps; rope_theta = c.ropeTheta; tie_word_embeddings = c.tiedHead
    }

    var policyConfig: PolicyConfig {
        PolicyConfig(vocab: vocab_size, dim: hidden_size, layers: num_hidden_layers, heads: num_attention_heads,
                     ffn: intermediate_size, context: max_position_embeddings, tiedHead: tie_word_embeddings,
                     ropeTheta: rope_theta, normEps: rms_norm_eps)
    }
}

/// A checkpoint directory: `config.json` + `model.safetensors`, loadable unchanged by LlamaForCausalLM.
public enum Checkpoint {
    public static func configURL(_ dir: URL) -> URL { dir.appendingPathComponent("config.json") }
    public static func weightsURL(_ dir: URL) -> URL { dir.appendingPathComponent("model.safetensors") }

    public static func exists(_ dir: URL) -> Bool {
        FileManager.default.fileExists(atPath: configURL(dir).path) &&
            FileManager.default.fileExists(atPath: weightsURL(dir).path)
    }

    /// Writes the policy into `dir` atomically: everything goes to a sibling temp directory first, then
    /// replaces `dir` by rename, so a crash leaves either the old or the new checkpoint, never a mix.
    /// `extra` files (e.g. optimizer state) are written into the same directory before the swap. For a single
    /// exported checkpoint; training runs keep versioned checkpoints (`RunDirectory`), which never replace one.
    public static func save(_ policy: Policy, to dir: URL, metadata: [String: String] = [:],
                            extra: (URL) throws -> Void = { _ in }) throws {
        let fm = FileManager.default
        let parent = dir.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let tmp = parent.appendingPathComponent(".\(dir.lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        try write(policy, into: tmp, metadata: metadata)
        try extra(tmp)
        let old = parent.appendingPathComponent(".\(dir.lastPathComponent).old-\(getpid())")
        if fm.fileExists(atPath: dir.path) { try fm.moveItem(at: dir, to: old) }
        try fm.moveItem(at: tmp, to: dir)
        try? fm.removeItem(at: old)
        try syncDirectory(parent)
    }

    /// Writes config.json and model.safetensors into the existing directory `dir`, each fsynced.
    public static func write(_ policy: Policy, into dir: URL, metadata: [String: String] = [:]) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeSynced(try enc.encode(HFLlamaConfig(policy.config)), to: configURL(dir))
        let a = policy.arena
        let entries = a.entries.map { e in
            (name: e.name, shape: e.shape, data: UnsafeBufferPointer(start: a.data + e.offset, count: e.count))
        }
        try SafeTensors.write(entries, metadata: metadata.merging(["format": "pt"]) { a, _ in a }, to: weightsURL(dir))
    }

    public static func loadConfig(_ dir: URL) throws -> PolicyConfig {
        let url = configURL(dir)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TensorError("no checkpoint at \(dir.path): \(url.lastPathComponent) is missing")
        }
        do {
            return try JSONDecoder().decode(HFLlamaConfig.self, from: data).policyConfig
        } catch {
            throw TensorError("checkpoint \(url.path): config.json is not a Llama config: \(error)")
        }
    }

    /// Loads a policy; every tensor must be present with the shape the config implies.
    public static func load(_ dir: URL) throws -> Policy {
        let config = try loadConfig(dir)
        let policy = try Policy(config: config)
        let (tensors, _) = try SafeTensors.read(weightsURL(dir))
        let a = policy.arena
        for e in a.entries {
            guard let t = tensors[e.name] else {
                throw TensorError("checkpoint \(dir.path) is missing tensor \(e.name)")
            }
            guard t.shape == e.shape else {
                throw TensorError("checkpoint \(dir.path): \(e.name) has shape \(t.shape), config implies \(e.shape)")
            }
            if let bad = t.values.firstIndex(where: { !$0.isFinite }) {
                throw TensorError("checkpoint \(dir.path): \(e.name) holds a non-finite value (\(t.values[bad]) at index \(bad)): "
                                  + "the run that wrote it diverged; use an earlier checkpoint")
            }
            t.values.withUnsafeBufferPointer { (a.data + e.offset).update(from: $0.baseAddress!, count: e.count) }
        }
        if let extraName = tensors.keys.first(where: { k in !a.entries.contains { $0.name == k } && k != "lm_head.weight" }) {
            throw TensorError("checkpoint \(dir.path) has tensor \(extraName) that the config does not use")
        }
        return policy
    }
}

/// Writes data to a new or truncated file and fsyncs it before returning (not atomic: write to a temporary
/// name and rename it for that, see `RunDirectory.writeAtomically`).
public func writeSynced(_ data: Data, to url: URL) throws {
    let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw TensorError("cannot write \(url.path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
        var done = 0
        while done < raw.count {
            let n = write(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TensorError("cannot write \(url.path): \(String(cString: strerror(errno)))") }
            done += n
        }
    }
    guard fsync(fd) == 0 else { throw TensorError("cannot fsync \(url.path): \(String(cString: strerror(errno)))") }
}

/// Makes renames and new entries in `dir` durable.
public func syncDirectory(_ dir: URL) throws {
    let fd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw TensorError("cannot open directory \(dir.path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw TensorError("cannot fsync directory \(dir.path): \(String(cString: strerror(errno)))") }
}
