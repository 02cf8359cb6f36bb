import Foundation
import GRPO
import Model
import Pretrain
import Rollout
import Training

/// What a base policy is like as a start: one rollout batch of the condition's first step (seed 1), and
/// the mean entropy per policy token of the base on those samples.
public struct BaseProbe: Codable, Equatable, Sendable {
    /// Mean entropy (nats) of the base's next-token distribution at its own policy tokens.
    public var entropy: Double
    /// Policy tokens sampled with probability < 1e-3.
    public var lowProbFraction: Double
    public var accuracy: Double
    public var toolCallRate: Double
    public var trajectories: Int
    /// The base's fingerprint and the probe config's checksum it was measured with (a rerun reuses it).
    public var source: String?

    /// Samples `config.promptsPerStep` x `config.groupSize` trajectories from `base` and measures them.
    public static func measure(base: URL, config: GRPOConfig, executor: CodeExecutor?) async throws -> BaseProbe {
        let policy = try loadPolicy(base)
        let tasks = ToyData(seed: config.seed, difficulty: config.tasks.difficulty).trainTasks
            .batch(step: 0, size: config.promptsPerStep, seed: config.seed)
        let engine = try EpisodeEngine(config: config.rollout, reward: config.reward.rewardScheme)
        let source = PolicyTokenSource(policy: policy, params: config.rollout.sampling, seed: config.seed)
        let (ts, _) = try await engine.run(tasks: tasks, groupSize: config.groupSize, source: source, executor: executor,
                                           contextLimit: policy.config.context)
        let mask = ts.flatMap { t in t.roles.map { $0 == .policy ? Float(1) : 0 } }
        let low = try lowProbabilityFractions(samplingLogProbs: ts.flatMap(\.samplingLogProbs), mask: mask, thresholds: [1e-3])
        let n = Double(max(1, ts.count))
        return BaseProbe(entropy: try meanPolicyEntropy(policy, ts, temperature: config.rollout.sampling.temperature,
                                                        microBatch: config.microBatch),
                         lowProbFraction: Double(low[0]), accuracy: Double(ts.filter(\.correct).count) / n,
                         toolCallRate: Double(ts.filter { $0.toolCalls > 0 }.count) / n, trajectories: ts.count)
    }
}
