import Tensor

extension BPETokenizer {
    /// The tokenizer of a GGUF file's metadata (`tokenizer.ggml.model` must be "gpt2", llama.cpp's name for
    /// byte-level BPE; then `.tokens`, `.merges`, `.token_type`, `.pre`), with the special ids the caller read.
    /// `vocabSize`: the token embedding's rows (default: the number of tokens).
    public init(gguf g: GGUFFile, vocabSize: Int? = nil, bos: Int32?, eos: Set<Int32>, pad: Int32) throws {
        let model = try g.string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw TensorError("GGUF \(g.url.path): tokenizer model '\(model)' is not supported (only byte-level BPE, \"gpt2\")")
        }
        let tokens = try g.strings("tokenizer.ggml.tokens")
        do {
            try self.init(ggufTokens: tokens, merges: try g.strings("tokenizer.ggml.merges"),
                          tokenTypes: try g.ints("tokenizer.ggml.token_type"),
                          preTokenizer: try g.optionalString("tokenizer.ggml.pre") ?? "default",
                          vocabSize: vocabSize ?? tokens.count, bos: bos, eos: eos, pad: pad)
        } catch let error as TensorError {
            throw TensorError("GGUF \(g.url.path): \(error.message)")
        }
    }

    /// Same, with the special ids the file names, read as `GGUFModel.config` reads them (BOS only where
    /// `add_bos_token` says so, EOS from eos/eot and the control tokens that end a turn, pad from
    /// `padding_token_id`, else the first EOS), and as many ids as the token embedding has rows.
    public init(gguf g: GGUFFile) throws {
        let (config, special) = try GGUFModel.config(g)
        try self.init(gguf: g, vocabSize: config.vocab, bos: special.bos, eos: Set(special.eos),
                      pad: special.pad ?? special.eos.first ?? 0)
    }
}
