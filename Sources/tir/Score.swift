import ArgumentParser
import Foundation
import Model
import Tensor
import Training

/// `tir score`: token ids and per-token log-probs of a text under a policy, for checking against other
/// implementations (e.g. transformers' LlamaForCausalLM on the same checkpoint).
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the token ids and per-token log-probs of a text under a policy.")

    @Option(help: "Checkpoint directory (config.json + model.safetensors), or a run (its current checkpoint).") var checkpoint: String
    @Option(help: "The text to score (BOS is prepended).") var text: String
    @Flag(help: "Print one JSON object with token_ids and logprobs.") var json = false

    func run() throws {
        let policy = try loadPolicy(url(checkpoint))
        let ids = [ByteTokenizer.bos] + ByteTokenizer().encode(text)
        guard ids.count >= 2 else { throw ValidationError("--text must not be empty") }
        guard ids.count <= policy.config.context else {
            throw ValidationError("the text has \(ids.count) tokens; the policy's context is \(policy.config.context)")
        }
        let lp = try noGrad {
            try policy.tokenLogProbs(tokens: Array(ids.dropLast()), targets: Array(ids.dropFirst()), batch: 1,
                                     seqLen: ids.count - 1)
        }.array
        if json {
            try printJSONObject(["token_ids": ids.map { Int($0) }, "logprobs": lp.map { Double($0) }])
        } else {
            let tok = ByteTokenizer()
            for (i, l) in lp.enumerated() {
                print(String(format: "%5d  %-8@ %9.4f", Int(ids[i + 1]), tok.render([ids[i + 1]]).debugDescription as NSString, l))
            }
            print(String(format: "total log-prob %.4f over %d tokens", lp.reduce(0, +), lp.count))
        }
    }
}
