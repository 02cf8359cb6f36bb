import ArgumentParser
import Foundation
import Model
import Tensor
import Training

/// `tir score`: token ids and per-token log-probs of a text under a model, for checking against other
/// implementations (transformers on the same weights: reference/score_hf.py).
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the token ids and per-token log-probs of a text under a model.")

    @Option(help: "A tir run or checkpoint, a Hugging Face directory (config.json, model.safetensors, tokenizer.json) or a .gguf file.")
    var checkpoint: String
    @Option(help: "The text to score, tokenized as the model's tokenizer does (special tokens written in it are recognised; BOS is prepended only for models that add one).")
    var text: String
    @Option(help: "fp32 | bf16 | fp16 | q8: score with a decode session computing in this format (what a rollout with rolloutWeights set to it samples from) instead of the training forward.")
    var weights: WeightFormat?
    @Flag(help: "Print one JSON object with token_ids and logprobs (logprobs[i] is the log-prob of token_ids[i + 1]).") var json = false

    func run() throws {
        let model = try loadModel(url(checkpoint))
        let tok = model.tokenizer, policy = model.policy
        let ids = (tok.bos.map { [$0] } ?? []) + tok.encode(text)
        guard ids.count >= 2 else { throw ValidationError("--text must give at least 2 tokens, got \(ids.count)") }
        guard ids.count <= policy.config.context else {
            throw ValidationError("the text has \(ids.count) tokens; the model's context is \(policy.config.context)")
        }
        let lp: [Float]
        if let weights {
            Status.warnIfSlow(weights)
            let session = try DecodeSession(policy: policy, slots: 1, maxLen: ids.count, weightFormat: weights)
            lp = try session.feed([(0, ids)], scoreFedAt: 1).fedLogProbs
        } else {
            lp = try noGrad {
                try policy.tokenLogProbs(tokens: Array(ids.dropLast()), targets: Array(ids.dropFirst()), batch: 1,
                                         seqLen: ids.count - 1)
            }.array
        }
        if json {
            try printJSONObject(["token_ids": ids.map { Int($0) }, "logprobs": lp.map { Double($0) }])
        } else {
            for (i, l) in lp.enumerated() {
                let piece = String(decoding: tok.tokenBytes(ids[i + 1]), as: UTF8.self)
                print(String(format: "%6d  %-14@ %9.4f", Int(ids[i + 1]), piece.debugDescription as NSString, l))
            }
            print(String(format: "total log-prob %.4f over %d tokens", lp.reduce(0, +), lp.count))
        }
    }
}
