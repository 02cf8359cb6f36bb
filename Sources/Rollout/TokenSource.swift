import Foundation
import Model
import Tensor

/// What a token source returns for one fed item.
public struct SourceStep: Sendable, Equatable {
    /// The next token and its log-prob under the sampling distribution (logits / temperature, before top-k/p).
    public var token: Int32
    public var logProb: Float
    /// The log-probs of the item's tokens after its first (tokens[1...]) under the same distribution, each given
    /// the tokens before it: the behaviour log-probs of a prefilled observation. Count tokens.count - 1, or 0 when
    /// the step did not score its fed tokens.
    public var fedLogProbs: [Float]

    public init(token: Int32, logProb: Float, fedLogProbs: [Float] = []) {
        self.token = token; self.logProb = logProb; self.fedLogProbs = fedLogProbs
    }
}

/// Where the episode engine gets its next tokens. The engine feeds each live slot its new tokens (a prompt
/// or an observation to prefill, or the last sampled token) and gets one next token per fed slot.
public protocol TokenSource: AnyObject {
    /// Prepares `slots` empty sequences of at most `maxLen` tokens each.
    func begin(slots: Int, maxLen: Int) throws
    /// Appends each item's tokens to its slot; returns per item the next token and its behaviour log-prob, and
    /// with `scoreFed` the behaviour log-probs of the fed tokens after the first (`SourceStep.fedLogProbs`;
    /// empty without it).
    func step(_ items: [(slot: Int, tokens: [Int32])], scoreFed: Bool) throws -> [SourceStep]
    /// Keeps the first `length` tokens of a slot (the engine feeds the rest again, re-tokenized).
    func rewind(slot: Int, to length: Int) throws
}

/// The policy with its KV cache. Slot i samples from its own stream, so results do not depend on batching.
/// With `script`, slot i emits script[i] token by token instead of sampling (teacher forcing, for tests),
/// still reporting the policy's log-prob of each forced token and keeping every logits row it computed.
/// `cacheFormat` rounds the KV cache and `weightFormat` the weights (a reduced-precision rollout; the trainer's
/// forward stays fp32); see `DecodeSession`.
public final class PolicyTokenSource: TokenSource {
    public let policy: Policy
    public let params: SamplingParams
    public let cacheFormat: NumberFormat, weightFormat: WeightFormat
    let seed: UInt64
    /// Slot i samples from stream `streamOffset + i` of the seed: a data-parallel rank that rolls out sequences
    /// k..<k+n of a batch passes k, and draws exactly what one process drawing the whole batch would.
    public var streamOffset = 0
    var session: DecodeSession?
    var rngs: [RNG] = []
    public var script: [[Int32]]?
    public private(set) var emitted: [[Int32]] = []
    public private(set) var recordedLogits: [[[Float]]] = []   // [slot][step][V], only when scripted

    /// Sampling draws from ids 0..<sampleable (the tokenizer's own ids: Qwen2's padding rows never come out).
    let sampleable: Int

    public init(policy: Policy, params: SamplingParams, seed: UInt64, script: [[Int32]]? = nil,
                cacheFormat: NumberFormat = .fp32, weightFormat: WeightFormat = .fp32, tokenCount: Int? = nil) {
        self.policy = policy; self.params = params; self.seed = seed; self.script = script
        self.cacheFormat = cacheFormat; self.weightFormat = weightFormat
        sampleable = min(policy.config.vocab, max(1, tokenCount ?? policy.config.vocab))
    }

    public func begin(slots: Int, maxLen: Int) throws {
        session = try DecodeSession(policy: policy, slots: slots, maxLen: maxLen, cacheFormat: cacheFormat,
                                    weightFormat: weightFormat)
        rngs = Array(streams(seed: seed, count: streamOffset + slots).dropFirst(streamOffset))
        emitted = Array(repeating: [], count: slots)
        recordedLogits = Array(repeating: [], count: slots)
    }

    public func rewind(slot: Int, to length: Int) throws {
        guard let session else { throw RolloutError("PolicyTokenSource.rewind before begin") }
        try session.truncate(slot, to: length)
    }

    public func step(_ items: [(slot: Int, tokens: [Int32])], scoreFed: Bool) throws -> [SourceStep] {
        guard let session else { throw RolloutError("PolicyTokenSource.step before begin") }
        let v = policy.config.vocab, t = params.temperature
        if let script {
            for item in items where emitted[item.slot].count >= script[item.slot].count {
                throw RolloutError("the script for slot \(item.slot) ran out after \(script[item.slot].count) tokens")
            }
        }
        let (logits, fed) = try session.feed(items, scoreFedAt: scoreFed ? t : nil)
        // Each item's fed log-probs follow those of the items before it.
        var fedStart = [0]
        for item in items { fedStart.append(fedStart.last! + item.tokens.count - 1) }
        func fedLogProbs(_ i: Int) -> [Float] { scoreFed ? Array(fed[fedStart[i] ..< fedStart[i + 1]]) : [] }
        var out = [SourceStep](repeating: SourceStep(token: 0, logProb: 0), count: items.count)
        logits.withUnsafeBufferPointer { all in
            func row(_ i: Int) -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(rebasing: all[i * v ..< (i + 1) * v]) }
            if let script {
                for (i, item) in items.enumerated() {
                    let s = item.slot, tok = script[s][emitted[s].count], logits = row(i)
                    recordedLogits[s].append(Array(logits))
                    var copy = Array(logits)
                    out[i] = SourceStep(token: tok, logProb: Kernels.logProb(row: &copy, v, target: Int(tok), temperature: t))
                    out[i].fedLogProbs = fedLogProbs(i)
                }
                return
            }
            // Sampling rows in parallel: each slot draws from its own stream, so the order does not matter.
            rngs.withUnsafeMutableBufferPointer { rngs in
                out.withUnsafeMutableBufferPointer { out in
                    parallelFor(items.count) { range in
                        for i in range {
                            let logits = row(i)
                            let (tok, lp) = Sampler.sample(UnsafeBufferPointer(rebasing: logits[..<sampleable]),
                                                           params: params, rng: &rngs[items[i].slot])
                            out[i] = SourceStep(token: tok, logProb: lp)
                            out[i].fedLogProbs = fedLogProbs(i)
                        }
                    }
                }
            }
        }
        for (i, item) in items.enumerated() { emitted[item.slot].append(out[i].token) }
        return out
    }
}

/// A deterministic stand-in policy: slot i emits script[i] in order (all log-probs 0), and records what it was fed.
public final class ScriptedTokenSource: TokenSource {
    public let script: [[Int32]]
    public private(set) var fed: [[Int32]] = []
    var position: [Int] = []

    public init(script: [[Int32]]) { self.script = script }

    public func begin(slots: Int, maxLen: Int) throws {
        guard slots == script.count else { throw RolloutError("ScriptedTokenSource has \(script.count) scripts for \(slots) slots") }
        fed = Array(repeating: [], count: slots)
        position = Array(repeating: 0, count: slots)
    }

    public func rewind(slot: Int, to length: Int) throws {
        guard length <= fed[slot].count else { throw RolloutError("ScriptedTokenSource: slot \(slot) holds \(fed[slot].count) tokens, cannot keep \(length)") }
        fed[slot].removeLast(fed[slot].count - length)
    }

    public func step(_ items: [(slot: Int, tokens: [Int32])], scoreFed: Bool) throws -> [SourceStep] {
        try items.map { item in
            fed[item.slot] += item.tokens
            let p = position[item.slot]
            guard p < script[item.slot].count else { throw RolloutError("script for slot \(item.slot) ran out") }
            position[item.slot] += 1
            return SourceStep(token: script[item.slot][p], logProb: 0,
                              fedLogProbs: [Float](repeating: 0, count: scoreFed ? item.tokens.count - 1 : 0))
        }
    }
}
