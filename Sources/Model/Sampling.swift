import Foundation
import Tensor

/// How to pick the next token. temperature 0 means greedy; topK 0 and topP 1 disable truncation.
public struct SamplingParams: Codable, Equatable, Sendable {
    public var temperature: Float
    public var topK: Int
    public var topP: Float

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1) {
        self.temperature = temperature; self.topK = topK; self.topP = topP
    }

    public func validate(_ check: FieldCheck = FieldCheck("sampling")) throws {
        try check.number("temperature", temperature, 0...10)
        try check.int("topK", topK, 0...(1 << 20))
        try check.number("topP", topP, 0...1, openLow: true)
    }
}

public enum Sampler {
    /// Samples one token from a row of logits. Returns the token and its log-probability under the
    /// temperature-scaled distribution before top-k/top-p truncation, i.e. the distribution the trainer's
    /// log-probs (logits / temperature) see. With temperature 0 the log-prob is that of temperature 1.
    public static func sample(_ logits: UnsafeBufferPointer<Float>, params: SamplingParams,
                              rng: inout RNG) -> (token: Int32, logProb: Float) {
        let v = logits.count, x = logits.baseAddress!
        let t = params.temperature > 0 ? params.temperature : 1
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: v) { buffer in
            let probs = buffer.baseAddress!
            let (best, mx, sum) = Kernels.softmaxNumerators(x, v, scale: 1 / t, out: probs)
            let logZ = logf(sum)
            func logProb(_ j: Int) -> Float { (x[j] - mx) / t - logZ }
            if params.temperature == 0 { return (Int32(best), logProb(best)) }

            if params.topK > 0 || params.topP < 1 {
                var order = Array(0..<v)
                order.sort { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }
                var keep = params.topK > 0 ? min(params.topK, v) : v
                if params.topP < 1 {
                    var acc: Float = 0
                    for (i, j) in order.prefix(keep).enumerated() {
                        acc += probs[j] / sum
                        if acc >= params.topP { keep = i + 1; break }
                    }
                }
                for j in order.dropFirst(keep) { probs[j] = 0 }
            }
            let j = rng.categorical(UnsafeBufferPointer(buffer))
            return (Int32(j), logProb(j))
        }
    }
}

/// One sequence to continue.
public struct GenerationRequest: Sendable {
    public var prompt: [Int32]
    public var maxNewTokens: Int
    public init(prompt: [Int32], maxNewTokens: Int) { self.prompt = prompt; self.maxNewTokens = maxNewTokens }
}

public struct Generation: Sendable {
    public enum Finish: String, Codable, Sendable { case eos, stop, length }
    public var tokens: [Int32]          // new tokens only (EOS included when it was sampled)
    public var logProbs: [Float]        // sampling log-prob of each new token
    public var finish: Finish
}

/// Batched sampling with a KV cache: all requests decode together; each stops at an `eos` id, a stop string
/// (matched on the tokens' bytes under `tokenizer`), or its token budget. Request i samples from its own stream
/// RNG(seed).split()^i, so results do not depend on batching. `onToken(request, token)` sees each new token as
/// it is sampled (streaming). `weightFormat` is the session's (bf16: the weights rounded and stored as bf16).
public func generate(_ policy: Policy, _ requests: [GenerationRequest], params: SamplingParams = .init(),
                     stopStrings: [String] = [], tokenizer: any TextTokenizer = ByteTokenizer(),
                     eos: Set<Int32> = [ByteTokenizer.eos], minNewTokens: Int = 0, weightFormat: WeightFormat = .fp32,
                     seed: UInt64, onToken: ((Int, Int32) -> Void)? = nil) throws -> [Generation] {
    try params.validate()
    if requests.isEmpty { return [] }
    let maxLen = requests.map { $0.prompt.count + $0.maxNewTokens }.max()!
    for (i, r) in requests.enumerated() where r.prompt.isEmpty {
        throw TensorError("generate: request \(i) has an empty prompt (start it with BOS)")
    }
    let session = try DecodeSession(policy: policy, slots: requests.count, maxLen: maxLen, weightFormat: weightFormat)
    var rngs = streams(seed: seed, count: requests.count)
    var out = requests.map { _ in Generation(tokens: [], logProbs: [], finish: .length) }
    var stopMatchers = requests.map { _ in StopMatcher(stopStrings, tokenizer: tokenizer) }
    let v = policy.config.vocab
    var live = requests.indices.filter { requests[$0].maxNewTokens > 0 }
    var pending = live.map { (slot: $0, tokens: requests[$0].prompt) }
    while !live.isEmpty {
        var logits = try session.feed(pending)
        // Sample the rows in parallel (each request draws from its own stream), then handle them in order.
        var sampled = [(token: Int32, logProb: Float)](repeating: (0, 0), count: pending.count)
        logits.withUnsafeMutableBufferPointer { all in
            rngs.withUnsafeMutableBufferPointer { rngs in
                sampled.withUnsafeMutableBufferPointer { sampled in
                    parallelFor(pending.count) { range in
                        for row in range {
                            let i = pending[row].slot, rowLogits = all.baseAddress! + row * v
                            if out[i].tokens.count < minNewTokens { for e in eos where Int(e) < v { rowLogits[Int(e)] = -.infinity } }
                            sampled[row] = Sampler.sample(UnsafeBufferPointer(start: rowLogits, count: v), params: params,
                                                          rng: &rngs[i])
                        }
                    }
                }
            }
        }
        var next: [(slot: Int, tokens: [Int32])] = []
        for (row, item) in pending.enumerated() {
            let i = item.slot, (tok, lp) = sampled[row]
            out[i].tokens.append(tok); out[i].logProbs.append(lp)
            onToken?(i, tok)
            if eos.contains(tok) { out[i].finish = .eos; continue }
            if stopMatchers[i].feed(tok) { out[i].finish = .stop; continue }
            if out[i].tokens.count >= requests[i].maxNewTokens { continue }
            next.append((i, [tok]))
        }
        pending = next
        live = next.map { $0.slot }
    }
    return out
}

/// Independent, reproducible per-sequence streams derived from one seed.
public func streams(seed: UInt64, count: Int) -> [RNG] {
    var root = RNG(seed: seed)
    return (0..<count).map { _ in root.split() }
}

/// Detects whether the generated bytes end with any stop string (a stop string may end inside a token).
public struct StopMatcher {
    let stops: [[UInt8]]
    let tokenizer: any TextTokenizer
    var tail: [UInt8] = []
    let keep: Int

    public init(_ stopStrings: [String], tokenizer: any TextTokenizer = ByteTokenizer()) {
        stops = stopStrings.map { Array($0.utf8) }.filter { !$0.isEmpty }
        keep = stops.map(\.count).max() ?? 0
        self.tokenizer = tokenizer
    }

    /// Adds a token; true when the text now ends with a stop string.
    public mutating func feed(_ token: Int32) -> Bool {
        guard keep > 0, !tokenizer.isSpecial(token) else { return false }
        let new = tokenizer.tokenBytes(token)
        guard !new.isEmpty else { return false }
        tail += new
        // A stop string that ends anywhere inside the new bytes counts.
        let found = ((tail.count - new.count + 1)...tail.count).contains { end in
            stops.contains { s in end >= s.count && tail[(end - s.count)..<end].elementsEqual(s) }
        }
        if tail.count > keep { tail.removeFirst(tail.count - keep) }
        return found
    }
}
