import Foundation
import GRPO
import Model
import Rollout
import Tensor
import Training

/// What a base policy is like as a start, on one rollout batch of a condition's first step: SimpleTIR's
/// preconditions. Are the tokens after a tool observation less likely than a first turn's (its diagnosis:
/// out-of-distribution feedback)? How many turns are void? How far does the sampler's probability sit from the
/// trainer's? Where would the step's gradient go, turn by turn?
///
/// The batch is sampled as the condition samples (its precision, temperature, format), then the fp32 trainer
/// reads it in one no-grad forward: entropy and logit-gradient factor per token, and its log-probs.
public struct BaseProbe: Codable, Equatable, Sendable {
    /// Policy tokens of one turn index: 0 is the first turn, k >= 1 the turn after the k-th observation.
    public struct TurnRow: Codable, Equatable, Sendable {
        public var turn: Int
        /// Trajectories that reached this turn, and the share of those turns that are void.
        public var turns: Int
        public var voidRate: Double
        public var tokens: Int
        /// Mean entropy (nats) of the base's distribution at the turn's tokens, and at its first
        /// `afterToolWindow` tokens (right after the observation for k >= 1).
        public var entropy: Double
        public var headEntropy: Double
        /// Share of tokens sampled with probability < 1e-3, over all and over the first tokens.
        public var lowProb: Double
        public var headLowProb: Double
        /// Share of the batch's on-policy logit-gradient mass (sum of f_i A_i^2, see `GradientAttribution`) on the
        /// turn's tokens, and on its tokens sampled with p < 1e-3.
        public var gradShare: Double
        public var lowProbGradShare: Double
        /// Share of the batch's sum of factors |e_t - p|^2 on the turn's tokens: where the gradient would sit
        /// with equal advantages (defined when no group has a reward signal).
        public var factorShare: Double
    }

    /// Mean entropy (nats) of the base's next-token distribution at its own policy tokens.
    public var entropy: Double
    /// Policy tokens sampled with probability < 1e-3.
    public var lowProbFraction: Double
    public var accuracy: Double
    public var toolCallRate: Double
    /// Trajectories with a void turn; executed code blocks that failed.
    public var voidTurnRate: Double
    public var execErrorRate: Double
    /// Mean and largest |p_sampler - p_trainer| per policy token (0 up to rounding with an fp32 sampler).
    public var probDiffMean: Double
    public var probDiffMax: Double
    /// What the sampler ran in: "fp32", or "bf16 weights, bf16 KV cache".
    public var sampler: String
    public var trajectories: Int
    public var byTurn: [TurnRow]
    /// The base's fingerprint and the probe config's checksum it was measured with (a rerun reuses it).
    public var source: String?

    /// The probe saved in `url`, nil when there is none (or it cannot be read).
    public static func read(_ url: URL) -> BaseProbe? {
        (try? Data(contentsOf: url)).flatMap { try? RankMessage.decoder.decode(BaseProbe.self, from: $0) }
    }

    /// Writes the probe as JSON (a NaN, e.g. the entropy of a turn no trajectory reached, as "nan").
    public func write(to url: URL) throws {
        let e = RankMessage.encoder
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try e.encode(self).write(to: url, options: .atomic)
    }

    /// Samples `config.promptsPerStep` x `config.groupSize` trajectories of `tasks`' first batch from `base` and
    /// measures them.
    public static func measure(base: URL, config: GRPOConfig, tasks: TaskSource, executor: CodeExecutor?) async throws -> BaseProbe {
        let model = try loadModel(base)
        let policy = model.policy
        let engine = try EpisodeEngine(config: config.rollout, reward: config.reward.rewardScheme, tokenizer: model.tokenizer,
                                       prompt: try PromptTemplate(model: model, config: config.rollout))
        let source = PolicyTokenSource(policy: policy, params: config.rollout.sampling, seed: config.seed,
                                       cacheFormat: config.rolloutKVCache, weightFormat: config.rolloutWeights,
                                       tokenCount: model.tokenizer.tokenCount)
        let (ts, _) = try await engine.run(tasks: tasks.batch(step: 0, size: config.promptsPerStep, seed: config.seed),
                                           groupSize: config.groupSize, source: source, executor: executor,
                                           contextLimit: policy.config.context)
        let advantages = try groupAdvantages(rewards: ts.map(\.reward), groupSize: config.groupSize,
                                             estimator: config.advantage)
        let sums = ProbeSums()
        try sums.add(policy, ts, advantages: advantages, temperature: config.rollout.sampling.temperature)
        let stats = TrajectoryStats(ts)
        return BaseProbe(entropy: sums.entropy.mean, lowProbFraction: sums.low.mean, accuracy: stats.accuracy,
                         toolCallRate: stats.toolCallRate, voidTurnRate: stats.voidTurnRate, execErrorRate: stats.execErrorRate,
                         probDiffMean: sums.diff.mean, probDiffMax: sums.diffMax,
                         sampler: config.rolloutWeights == .fp32 && config.rolloutKVCache == .fp32 ? "fp32"
                             : "\(config.rolloutWeights.rawValue) weights, \(config.rolloutKVCache.rawValue) KV cache",
                         trajectories: ts.count, byTurn: sums.rows(ts))
    }
}

/// A weighted mean built up sum by sum.
struct RunningMean {
    var sum = 0.0, weight = 0.0
    mutating func add(_ s: Double, _ w: Double = 1) { sum += s; weight += w }
    var mean: Double { weight > 0 ? sum / weight : .nan }
}

/// The probe's per-token sums, by turn index: one micro-batched no-grad forward of the trainer's policy.
final class ProbeSums {
    var entropy = RunningMean(), low = RunningMean(), diff = RunningMean(), diffMax = 0.0
    var turnEntropy: [Int: RunningMean] = [:], headEntropy: [Int: RunningMean] = [:]
    var turnLow: [Int: RunningMean] = [:], headLow: [Int: RunningMean] = [:]
    var grad: [Int: Double] = [:], lowGrad: [Int: Double] = [:], gradTotal = 0.0
    var factor: [Int: Double] = [:], factorTotal = 0.0

    /// Sequences per forward: the logits of one head chunk are the large buffer, so a few at a time suffice.
    static let microBatch = 4

    func add(_ policy: Policy, _ ts: [Trajectory], advantages: [Float], temperature: Float) throws {
        let logLow = logf(1e-3)
        for start in stride(from: 0, to: ts.count, by: Self.microBatch) {
            let range = start..<min(ts.count, start + Self.microBatch)
            let chunk = range.filter { ts[$0].tokens.count >= 2 }
            guard !chunk.isEmpty else { continue }
            let width = chunk.map { ts[$0].tokens.count - 1 }.max()!
            var b = PolicyLossBatch()
            var turn: [Int] = [], head: [Bool] = []      // per row: the target's turn index (-1: not a policy token)
            for i in chunk {
                let t = ts[i]
                try b.append(t, tokenMask: t.roles.map { $0 == .policy ? 1 : 0 }, advantage: advantages[i], rows: width)
                var index = [Int](repeating: -1, count: t.tokens.count), first = [Bool](repeating: false, count: t.tokens.count)
                for (k, u) in t.turns.enumerated() {
                    for j in u.policyRange where j < index.count && t.roles[j] == .policy {
                        index[j] = k
                        first[j] = j - u.policyRange.lowerBound < afterToolWindow
                    }
                }
                turn += index[1...]; turn += repeatElement(-1, count: width - (t.tokens.count - 1))
                head += first[1...]; head += repeatElement(false, count: width - (t.tokens.count - 1))
            }
            let mask = b.mask
            let logProbs = try noGrad {
                try policy.tokenLogProbs(tokens: b.inputs, targets: b.targets, batch: chunk.count, seqLen: width,
                                         temperature: temperature) { [self] logits, rows in
                    let vocab = policy.config.vocab
                    let m = Array(mask[rows])
                    let factors = try logitGradientFactors(logits: logits, rows: rows.count, vocab: vocab,
                                                           targets: Array(b.targets[rows]), mask: m)
                    for k in Set(turn[rows]) where k >= 0 {
                        let all = rows.map { turn[$0] == k ? Float(1) : 0 }, first = rows.map { turn[$0] == k && head[$0] ? Float(1) : 0 }
                        let (s, w) = try maskedEntropySum(logits: logits, rows: rows.count, vocab: vocab, mask: all)
                        turnEntropy[k, default: RunningMean()].add(s, w)
                        entropy.add(s, w)
                        let (hs, hw) = try maskedEntropySum(logits: logits, rows: rows.count, vocab: vocab, mask: first)
                        headEntropy[k, default: RunningMean()].add(hs, hw)
                    }
                    for (j, r) in rows.enumerated() where turn[r] >= 0 {
                        let k = turn[r], isLow = b.behaviourLogProbs[r] < logLow
                        let g = Double(factors[j]) * Double(b.advantages[r] * b.advantages[r])
                        turnLow[k, default: RunningMean()].add(isLow ? 1 : 0)
                        if head[r] { headLow[k, default: RunningMean()].add(isLow ? 1 : 0) }
                        low.add(isLow ? 1 : 0)
                        grad[k, default: 0] += g; gradTotal += g
                        factor[k, default: 0] += Double(factors[j]); factorTotal += Double(factors[j])
                        if isLow { lowGrad[k, default: 0] += g }
                    }
                }
            }
            for r in 0..<b.count where turn[r] >= 0 {
                let d = abs(Double(expf(logProbs.data[r])) - Double(expf(b.behaviourLogProbs[r])))
                diff.add(d)
                diffMax = max(diffMax, d)
            }
        }
    }

    func rows(_ ts: [Trajectory]) -> [BaseProbe.TurnRow] {
        let deepest = ts.map(\.turns.count).max() ?? 0
        return (0..<deepest).map { k in
            let reached = ts.filter { $0.turns.count > k }
            return BaseProbe.TurnRow(turn: k, turns: reached.count,
                                     voidRate: Double(reached.filter { $0.turns[k].isVoid }.count) / Double(max(1, reached.count)),
                                     tokens: Int(turnLow[k]?.weight ?? 0), entropy: turnEntropy[k]?.mean ?? .nan,
                                     headEntropy: headEntropy[k]?.mean ?? .nan, lowProb: turnLow[k]?.mean ?? .nan,
                                     headLowProb: headLow[k]?.mean ?? .nan,
                                     gradShare: gradTotal > 0 ? (grad[k] ?? 0) / gradTotal : .nan,
                                     lowProbGradShare: gradTotal > 0 ? (lowGrad[k] ?? 0) / gradTotal : .nan,
                                     factorShare: factorTotal > 0 ? (factor[k] ?? 0) / factorTotal : .nan)
        }
    }
}
