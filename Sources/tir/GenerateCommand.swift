import ArgumentParser
import Foundation
import Model
import Tensor
import Training

/// `tir generate`: continue a prompt (or answer a chat message) with a model, streaming the text.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt with a model, streaming the text as it is sampled.",
        discussion: "With --chat the prompt is a user message rendered in the model's chat format (ChatML for SmolLM2 "
            + "and Qwen2), with the template's default system prompt unless --system is given. Generation stops at "
            + "any of the model's end-of-generation tokens or after --max-tokens.")

    @Option(help: "A tir run or checkpoint, a Hugging Face directory or a .gguf file.") var checkpoint: String
    @Option(help: "The prompt text (with --chat: the user's message).") var prompt: String
    @Flag(help: "Render the prompt as a user message in the model's chat format.") var chat = false
    @Option(help: "System message for --chat (default: the template's own).") var system: String?
    @Option(help: "Most new tokens.") var maxTokens = 256
    @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float = 0
    @Option(help: "Seed of the sampler.") var seed: UInt64 = 0
    @Option(help: "fp32 | bf16 | fp16 | q8: the weights' format while decoding (bf16 is stored as bf16: faster; q8: 8-bit blocks, fastest with AVX2 or AVX512-VNNI).")
    var weights: WeightFormat = .fp32

    func run() throws {
        try requireCount("max-tokens", maxTokens)
        Status.warnIfSlow(weights)
        let model = try loadModel(url(checkpoint))
        let tok = model.tokenizer
        var text = prompt
        if chat {
            var messages = [ChatMessage(role: "user", content: prompt)]
            if let system { messages.insert(ChatMessage(role: "system", content: system), at: 0) }
            text = try model.chatFormat().render(messages)
        }
        let ids = (tok.bos.map { [$0] } ?? []) + tok.encode(text)
        guard !ids.isEmpty else { throw ValidationError("--prompt gives no tokens") }
        var decoder = StreamingDecoder(tok)
        let out = FileHandle.standardOutput
        let result = try generate(model.policy, [GenerationRequest(prompt: ids, maxNewTokens: maxTokens)],
                                  params: SamplingParams(temperature: temperature), eos: tok.eos, weightFormat: weights, seed: seed) { _, token in
            if !tok.eos.contains(token) { out.write(Data(decoder.push(token).utf8)) }
        }
        out.write(Data((decoder.flush() + "\n").utf8))
        Status.info("\(result[0].tokens.count) tokens, finished by \(result[0].finish.rawValue)")
    }
}
