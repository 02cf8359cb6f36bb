import ArgumentParser
import Foundation
import Model
import Tensor
import Training

/// `tir info`: the CPU, the kernels chosen for it and why, and the thread count.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the CPU, its relevant features, the OpenBLAS core chosen (and why), our kernels and threads.",
        discussion: """
        OpenBLAS core precedence: \(BLAS.forceVariable)=NAME forces a core; \(BLAS.keepVariable)=1 keeps \
        OpenBLAS's own choice (which honours OPENBLAS_CORETYPE); otherwise the core follows the CPU's features \
        (AVX-512 with BF16: Cooperlake, AVX-512: SkylakeX, AVX2: Haswell). TIR_NO_AVX512=1 forces our AVX2 \
        kernels on an AVX-512 CPU.
        """)

    @Option(help: "Describe this model instead (a tir run, a Hugging Face directory or a .gguf file): architecture, parameters, tokenizer, chat format.")
    var checkpoint: String?
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        if let checkpoint { return try describe(try loadModel(url(checkpoint))) }
        let info = MachineInfo.current
        if json { try printJSONObject(info.jsonFields.merging(["blas_reason": info.blasReason]) { a, _ in a }) } else {
            print("cpu:      \(info.cpu)")
            print("features: \(info.features) (CPUID, with the OS-enabled register state of XGETBV)")
            print("BLAS:     \(info.blasCore) (\(info.blasReason))")
            print("kernels:  \(info.ourKernels)")
            print("threads:  \(info.threads)")
        }
    }

    func describe(_ m: LanguageModel) throws {
        let c = m.policy.config, tok = m.tokenizer
        let chat: String
        do { chat = try m.chatFormat().defaultSystem.map { "ChatML, default system prompt \"\($0)\"" } ?? "ChatML" } catch {
            chat = m.chatTemplate == nil ? "none" : "template not recognised (raw prompts only)"
        }
        let fields: [String: Any] = [
            "source": m.source.rawValue, "path": m.url.path, "architecture": c.architecture, "parameters": m.policy.parameterCount,
            "layers": c.layers, "dim": c.dim, "heads": c.heads, "kv_heads": c.kvHeadCount, "head_dim": c.headDim,
            "ffn": c.ffn, "vocab": c.vocab, "context": c.context, "tied_head": c.tiedHead, "qkv_bias": c.qkvBias,
            "rope_theta": Double(c.ropeTheta), "rope_scaling": c.ropeScaling.map { "llama3 x\($0.factor)" } ?? "none",
            "rms_eps": Double(c.normEps), "tokenizer": String(describing: type(of: tok)),
            "bos": tok.bos.map { Int($0) } ?? -1, "eos": tok.eos.sorted().map { Int($0) }, "pad": Int(tok.pad), "chat": chat,
        ]
        if json { return try printJSONObject(fields) }
        print("model:      \(m.url.path) (\(m.source.rawValue))")
        print("arch:       \(c.architecture), \(c.layers) layers x \(c.dim), \(c.heads) query / \(c.kvHeadCount) KV heads of \(c.headDim), ffn \(c.ffn)")
        print(String(format: "parameters: %d (%.1f M, %.0f MB in fp32)", m.policy.parameterCount,
                     Double(m.policy.parameterCount) / 1e6, Double(m.policy.parameterCount) * 4 / 1e6))
        print("head:       \(c.tiedHead ? "tied to the embedding" : "separate"); q/k/v biases: \(c.qkvBias ? "yes" : "no")")
        print("rope:       theta \(c.ropeTheta), scaling \(fields["rope_scaling"]!); rms eps \(c.normEps); context \(c.context)")
        print("tokenizer:  \(fields["tokenizer"]!), vocab \(c.vocab); BOS \(tok.bos.map { "\($0)" } ?? "none added"), EOS \(tok.eos.sorted()), pad \(tok.pad)")
        print("chat:       \(chat)")
    }
}
