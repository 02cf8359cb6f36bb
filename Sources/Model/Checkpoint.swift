import Foundation
import Tensor

/// A checkpoint directory in the Hugging Face layout: `config.json` + `model.safetensors` (or shards named by
/// `model.safetensors.index.json`), loadable unchanged by transformers. tir writes one file in fp32; it reads
/// F32, F16 and BF16, one tensor at a time straight into the parameter arena.
public enum Checkpoint {
    public static func configURL(_ dir: URL) -> URL { dir.appendingPathComponent("config.json") }
    public static func weightsURL(_ dir: URL) -> URL { dir.appendingPathComponent("model.safetensors") }

    public static func indexURL(_ dir: URL) -> URL { dir.appendingPathComponent("model.safetensors.index.json") }

    public static func exists(_ dir: URL) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: configURL(dir).path)
            && (fm.fileExists(atPath: weightsURL(dir).path) || fm.fileExists(atPath: indexURL(dir).path))
    }

    /// Writes the policy into `dir` atomically: everything goes to a sibling temp directory first, then
    /// replaces `dir` by rename, so a crash leaves either the old or the new checkpoint, never a mix.
    /// `extra` files (e.g. optimizer state) are written into the same directory before the swap. For a single
    /// exported checkpoint; training runs keep versioned checkpoints (`RunDirectory`), which never replace one.
    public static func save(_ policy: Policy, to dir: URL, special: SpecialTokens = .byteTokenizer,
                            metadata: [String: String] = [:], extra: (URL) throws -> Void = { _ in }) throws {
        let fm = FileManager.default
        let parent = dir.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let tmp = parent.appendingPathComponent(".\(dir.lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        try write(policy, into: tmp, special: special, metadata: metadata)
        try extra(tmp)
        let old = parent.appendingPathComponent(".\(dir.lastPathComponent).old-\(getpid())")
        if fm.fileExists(atPath: dir.path) { try fm.moveItem(at: dir, to: old) }
        try fm.moveItem(at: tmp, to: dir)
        try? fm.removeItem(at: old)
        try syncDirectory(parent)
    }

    /// Writes config.json and model.safetensors into the existing directory `dir`, each fsynced.
    public static func write(_ policy: Policy, into dir: URL, special: SpecialTokens = .byteTokenizer,
                             metadata: [String: String] = [:]) throws {
        try writeSynced(try HFConfig.encode(policy.config, special: special), to: configURL(dir))
        let a = policy.arena
        let entries = a.entries.map { e in
            (name: e.name, shape: e.shape, data: UnsafeBufferPointer(start: a.data + e.offset, count: e.count))
        }
        try SafeTensors.write(entries, metadata: metadata.merging(["format": "pt"]) { a, _ in a }, to: weightsURL(dir))
    }

    public static func loadConfig(_ dir: URL) throws -> PolicyConfig { try loadConfigAndTokens(dir).0 }

    /// The architecture and the special tokens of config.json (EOS ids of generation_config.json added).
    public static func loadConfigAndTokens(_ dir: URL) throws -> (PolicyConfig, SpecialTokens) {
        let url = configURL(dir)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TensorError("no checkpoint at \(dir.path): \(url.lastPathComponent) is missing")
        }
        var (config, special) = try HFConfig.read(data, path: url.path)
        if let gen = FileManager.default.contents(atPath: dir.appendingPathComponent("generation_config.json").path) {
            for id in HFConfig.generationEOS(gen) where id >= 0 && Int(id) < config.vocab && !special.eos.contains(id) {
                special.eos.append(id)
            }
        }
        return (config, special)
    }

    /// The safetensors files of a checkpoint: model.safetensors, or the shards its index names.
    static func weightFiles(_ dir: URL) throws -> [URL] {
        let index = indexURL(dir)
        guard let data = FileManager.default.contents(atPath: index.path) else { return [weightsURL(dir)] }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let map = json["weight_map"] as? [String: String] else {
            throw TensorError("\(index.path): not a safetensors index (no weight_map of tensor name -> file)")
        }
        let files = Set(map.values).sorted()
        for f in files where f.contains("/") || f.hasPrefix(".") {
            throw TensorError("\(index.path): shard name '\(f)' must be a file in the checkpoint directory")
        }
        return files.map { dir.appendingPathComponent($0) }
    }

    /// Loads a policy; every tensor must be present with the shape the config implies. Peak memory: the arena
    /// plus the mapped files (pages the kernel can drop), no second copy.
    public static func load(_ dir: URL) throws -> Policy { try load(dir, config: try loadConfig(dir)) }

    /// Same, with config.json already read.
    static func load(_ dir: URL, config: PolicyConfig) throws -> Policy {
        let policy = try Policy(config: config)
        var found: [String: (SafeTensorsFile, SafeTensorsFile.Tensor)] = [:]
        for url in try weightFiles(dir) {
            let file = try SafeTensorsFile(url)
            for (name, t) in file.tensors {
                guard found[name] == nil else { throw TensorError("checkpoint \(dir.path): tensor \(name) is in two shards") }
                found[name] = (file, t)
            }
        }
        let a = policy.arena
        for e in a.entries {
            guard let (file, t) = found[e.name] else {
                throw TensorError("checkpoint \(dir.path) is missing tensor \(e.name)")
            }
            guard t.shape == e.shape else {
                throw TensorError("checkpoint \(dir.path): \(e.name) has shape \(t.shape), config implies \(e.shape)")
            }
            file.copy(t, into: a.data + e.offset)
            try requireFinite(a.data + e.offset, count: e.count, name: e.name, source: "checkpoint \(dir.path)")
        }
        // A tied head may still be stored (transformers writes it when asked to); anything else is unexplained.
        if let extraName = found.keys.sorted().first(where: { k in !a.entries.contains { $0.name == k } && k != "lm_head.weight" }) {
            throw TensorError("checkpoint \(dir.path) has tensor \(extraName) that the config does not use")
        }
        return policy
    }
}

/// Throws when a loaded tensor holds NaN or infinity (a run that diverged wrote it, or the file is corrupt).
func requireFinite(_ p: UnsafePointer<Float>, count: Int, name: String, source: String) throws {
    for i in 0..<count where !p[i].isFinite {
        throw TensorError("\(source): \(name) holds a non-finite value (\(p[i]) at index \(i)): "
                          + "the run that wrote it diverged or the file is corrupt; use an earlier checkpoint")
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
