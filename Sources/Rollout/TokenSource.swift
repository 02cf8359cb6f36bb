import Foundation
import Model
import Tensor

/// Where the episode engine gets its next tokens. The engine feeds each live slot its new tokens (a prompt
/// or an observation to prefill, or the last sampled token) and gets one next token per fed slot.
public protocol TokenSource: AnyObject {
    /// Prepares `slots` empty sequences of at most `maxLen` tokens each.
    func begin(slots: Int, maxLen: Int) throws
    /// Appends each item's tokens to its slot; returns the next token and its sampling log-prob per item.
    func step(_ items: [(slot: Int, tokens: [Int32])]) throws -> [(token: Int32, logProb: Float)]
}

/// The policy with its KV cache. Slot i samples from its own stream, so results do not depend on batching.
/// With `script`, slot i emits script[i] token by token instead of sampling (teacher forcing, for tests),
/// still reporting the policy's log-prob of each forced token and keeping every logits row it computed.
public final class PolicyTokenSource: TokenSource {
    public let policy: Policy
    public let params: SamplingParams
    let seed: UInt64
    var session: DecodeSession?
    var rngs: [RNG] = []
    public var script: [[Int32]]?
    public private(set) var emitted: [[Int32]] = []
    public private(set) var recordedLogits: [[[Float]]] = []   // [slot][step][V], only when scripted

    public init(policy: Policy, params: SamplingParams, seed: UInt64, script: [[Int32]]? = nil) {
        self.policy = policy; self.params = params; self.seed = seed; self.script = script
    }

    public func begin(slots: Int, maxLen: Int) throws {
        session = try DecodeSession(policy: policy, slots: slots, maxLen: maxLen)
        rngs = streams(seed: seed, count: slots)
        emitted = Array(repeating: [], count: slots)
        recordedLogits = Array(repeating: [], count: slots)
    }

    public func step(_ items: [(slot: Int, tokens: [Int32])]) throws -> [(token: Int32, logProb: Float)] {
        guard let session else { throw RolloutError("PolicyTokenSource.step before begin") }
        let v = policy.config.vocab
        if let script {
            for item in items where emitted[item.slot].count >= script[item.slot].count {
                throw RolloutError("the script for slot \(item.slot) ran out after \(script[item.slot].count) tokens")
            }
        }
        let logits = try session.feed(items)
        return logits.withUnsafeBufferPointer { all in
            items.enumerated().map { row, item in
                let rowLogits = UnsafeBufferPointer(rebasing: all[row * v ..< (row + 1) * v])
                let s = item.slot
                let out: (token: Int32, logProb: Float)
                if let script {
                    let tok = script[s][emitted[s].count]
                    recordedLogits[s].append(Array(rowLogits))
                    out = (tok, logSoftmaxAt(rowLogits, Int(tok), temperature: params.temperature))
                } else {
                    out = Sampler.sample(rowLogits, params: params, rng: &rngs[s])
                }
                emitted[s].append(out.token)
                return out
            }
        }
    }
}

/// log softmax(x / T)[j]
func logSoftmaxAt(_ x: UnsafeBufferPointer<Float>, _ j: Int, temperature: Float) -> Float {
    let t = temperature > 0 ? temperature : 1
    let mx = x.max() ?? 0
    var s: Float = 0
    for v in x { s += expf((v - mx) / t) }
    return (x[j] - mx) / t - logf(s)
}

/// A deterministic stand-in policy: slot i emits script[i] in order (log-prob 0), and records what it was fed.
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

    public func step(_ items: [(slot: Int, tokens: [Int32])]) throws -> [(token: Int32, logProb: Float)] {
        try items.map { item in
            fed[item.slot] += item.tokens
            let p = position[item.slot]
            guard p < script[item.slot].count else { throw RolloutError("script for slot \(item.slot) ran out") }
            position[item.slot] += 1
            return (script[item.slot][p], 0)
        }
    }
}
