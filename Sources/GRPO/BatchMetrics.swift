import Foundation
import Rollout

/// The batch statistics verl and SimpleTIR log that the trainer's own metrics lack, under their names
/// (MetricNames): score and advantage ranges, length and turn ranges, the length-clip ratio, SimpleTIR's
/// per-turn code ratios, and verl's clip fraction and ppo_kl from the step's loss statistics.
/// `advantages[i]` and `masks[i]` are trajectory i's advantage and loss mask.
public func batchMetrics(_ ts: [Trajectory], advantages: [Float], masks: [[Float]],
                         loss: PolicyLossStats) throws -> [String: Double] {
    guard !ts.isEmpty, advantages.count == ts.count, masks.count == ts.count else {
        throw GRPOError("batchMetrics: \(ts.count) trajectories, \(advantages.count) advantages, \(masks.count) masks")
    }
    var m: [String: Double] = [:]
    let rewards = ts.map { Double($0.reward) }
    m["critic/score/max"] = rewards.max()
    m["critic/score/min"] = rewards.min()
    m["critic/rewards/max"] = rewards.max()
    m["critic/rewards/min"] = rewards.min()

    var weighted = 0.0, weight = 0.0
    var trained: [Double] = []
    for (a, mask) in zip(advantages, masks) {
        let w = mask.reduce(0.0) { $0 + Double($1) }
        guard w > 0 else { continue }
        weighted += Double(a) * w; weight += w
        trained.append(Double(a))
    }
    m["critic/advantages/mean"] = weight > 0 ? weighted / weight : 0
    m["critic/advantages/max"] = trained.max() ?? 0
    m["critic/advantages/min"] = trained.min() ?? 0

    let lengths = ts.map { Double($0.policyTokenCount) }, turns = ts.map { Double($0.turns.count) }
    let n = Double(ts.count)
    m["response_length/max"] = lengths.max()
    m["response_length/min"] = lengths.min()
    m["response_length/clip_ratio"] = Double(ts.filter { $0.finish == .tokenLimit }.count) / n
    m["num_turns/max"] = turns.max()
    m["num_turns/min"] = turns.min()
    func perTurn(_ t: Trajectory, _ counts: (Turn) -> Bool) -> Double {
        Double(t.turns.filter(counts).count) / Double(max(1, t.turns.count))
    }
    m["env/code_use_ratio"] = ts.reduce(0.0) { $0 + perTurn($1) { $0.hasCode } } / n
    m["env/valid_code_ratio"] = ts.reduce(0.0) { $0 + perTurn($1) { $0.execution == .ok } } / n

    m["actor/pg_clipfrac"] = loss.clipFrac
    m["actor/ppo_kl"] = loss.ppoKL
    return m
}
