import Foundation
import Tensor

/// A policy with the tokenizer, special tokens and chat format that belong to it: what every command that
/// takes `--checkpoint` works with, whether the weights came from a tir run, a Hugging Face directory or a
/// GGUF file.
public struct LanguageModel {
    public enum Source: String, Sendable { case huggingFace = "Hugging Face directory", gguf = "GGUF file" }

    public let policy: Policy
    public let tokenizer: any TextTokenizer
    public let special: SpecialTokens
    /// The Jinja chat template the model's files carry (nil: none).
    public let chatTemplate: String?
    public let source: Source
    public let url: URL

    public init(policy: Policy, tokenizer: any TextTokenizer, special: SpecialTokens, chatTemplate: String?,
                source: Source, url: URL) {
        self.policy = policy
        self.tokenizer = tokenizer
        self.special = special
        self.chatTemplate = chatTemplate
        self.source = source
        self.url = url
    }

    /// A toy policy with the byte tokenizer (no chat template).
    public init(toy policy: Policy, url: URL = URL(fileURLWithPath: "/")) {
        self.init(policy: policy, tokenizer: ByteTokenizer(), special: .byteTokenizer, chatTemplate: nil,
                  source: .huggingFace, url: url)
    }

    /// The chat format of the template; throws for a model without one or with one we do not render.
    public func chatFormat() throws -> ChatFormat {
        guard let chatTemplate else {
            throw TensorError("\(url.path) has no chat template: use a raw prompt (no --chat)")
        }
        return try ChatFormat(template: chatTemplate)
    }

    /// Loads a `.gguf` file or a Hugging Face checkpoint directory (tir's own checkpoints are such
    /// directories; their byte tokenizer is implied by the 260-token vocabulary and the absence of a
    /// tokenizer.json).
    public static func load(_ url: URL) throws -> LanguageModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw TensorError("no model at \(url.path)")
        }
        if !isDir.boolValue { return try loadGGUF(url) }
        return try loadDirectory(url)
    }

    static func loadGGUF(_ url: URL) throws -> LanguageModel {
        let g = try GGUFFile(url: url)
        let (config, special) = try GGUFModel.config(g)
        let tokenizer = try BPETokenizer(gguf: g, vocabSize: config.vocab, bos: special.bos, eos: Set(special.eos),
                                         pad: special.pad ?? special.eos.first ?? 0)
        let policy = try Policy(config: config)
        try GGUFModel.load(g, into: policy)
        return LanguageModel(policy: policy, tokenizer: tokenizer, special: special,
                             chatTemplate: try g.optionalString("tokenizer.chat_template"), source: .gguf, url: url)
    }

    static func loadDirectory(_ dir: URL) throws -> LanguageModel {
        let (config, fileSpecial) = try Checkpoint.loadConfigAndTokens(dir)
        var special = fileSpecial
        let fm = FileManager.default
        let tokenizerJSON = dir.appendingPathComponent("tokenizer.json")
        let tokenizerConfig = (fm.contents(atPath: dir.appendingPathComponent("tokenizer_config.json").path))
            .flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] } ?? [:]
        let tokenizer: any TextTokenizer
        if let data = fm.contents(atPath: tokenizerJSON.path) {
            // BOS only where the tokenizer adds one (SmolLM2 and Qwen2 do not).
            if tokenizerConfig["add_bos_token"] as? Bool != true { special.bos = nil }
            tokenizer = try BPETokenizer(tokenizerJSON: data, vocabSize: config.vocab, bos: special.bos,
                                         eos: Set(special.eos), pad: special.pad ?? special.eos.first ?? 0)
        } else if config.vocab == ByteTokenizer.vocabSize {
            tokenizer = ByteTokenizer()
        } else {
            throw TensorError("\(dir.path) has no tokenizer.json (and a vocabulary of \(config.vocab), not the byte "
                              + "tokenizer's \(ByteTokenizer.vocabSize))")
        }
        return LanguageModel(policy: try Checkpoint.load(dir, config: config), tokenizer: tokenizer, special: special,
                             chatTemplate: tokenizerConfig["chat_template"] as? String, source: .huggingFace, url: dir)
    }
}
