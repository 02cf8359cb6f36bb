import Foundation

/// Errors from the GRPO math core. The message says what was wrong and how to fix it.
public struct GRPOError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

@inline(__always)
func require(_ ok: Bool, _ message: @autoclosure () -> String) throws {
    if !ok { throw GRPOError(message()) }
}

/// How a trajectory's scalar reward becomes its advantage, relative to the other samples of its group.
public enum AdvantageEstimator: String, Codable, CaseIterable, Sendable {
    /// (R - mean) / (std + eps), std unbiased (n - 1), as verl's compute_grpo_outcome_advantage.
    case grpo
    /// R - mean: Dr. GRPO drops the std division (verl: norm_adv_by_std_in_grpo = false).
    case drGRPO
    /// R - mean of the OTHER samples of the group (leave-one-out baseline). Equals verl's
    /// R * n/(n-1) - mean * n/(n-1).
    case rloo
}

/// Per-trajectory advantages. `rewards` are ordered group by group (G consecutive samples of one prompt).
/// rewards: [B*G] -> [B*G]. Arithmetic is in Double; a group whose rewards are all equal gets exactly 0
/// with every estimator. Throws if the count is not a multiple of `groupSize`, if `groupSize` < 1
/// (< 2 for grpo and rloo, which need a spread or "others"), or on a non-finite reward.
public func groupAdvantages(rewards: [Float], groupSize: Int, estimator: AdvantageEstimator,
                            eps: Float = 1e-6) throws -> [Float] {
    try checkGroups(count: rewards.count, groupSize: groupSize)
    if estimator != .drGRPO {
        try require(groupSize >= 2, "groupAdvantages: \(estimator.rawValue) needs groupSize >= 2 (got \(groupSize)); "
                    + "use drGRPO or sample at least 2 trajectories per prompt")
    }
    if let i = rewards.firstIndex(where: { !$0.isFinite }) {
        throw GRPOError("groupAdvantages: reward \(rewards[i]) at index \(i) is not finite")
    }
    var out = [Float](repeating: 0, count: rewards.count)
    let n = Double(groupSize)
    for g in stride(from: 0, to: rewards.count, by: groupSize) {
        let group = g..<(g + groupSize)
        var sum = 0.0
        for i in group { sum += Double(rewards[i]) }
        let mean = sum / n
        switch estimator {
        case .grpo:
            var ss = 0.0
            for i in group { let d = Double(rewards[i]) - mean; ss += d * d }
            let std = (ss / (n - 1)).squareRoot()
            for i in group { out[i] = Float((Double(rewards[i]) - mean) / (std + Double(eps))) }
        case .drGRPO:
            for i in group { out[i] = Float(Double(rewards[i]) - mean) }
        case .rloo:
            for i in group {
                let r = Double(rewards[i])
                out[i] = Float(r - (sum - r) / (n - 1))
            }
        }
    }
    return out
}

/// One flag per group: true when every reward of the group is equal (no learning signal under any
/// estimator). For the zero-std-group metric and DAPO dynamic sampling. rewards: [B*G] -> [B].
public func zeroSignalGroups(rewards: [Float], groupSize: Int) throws -> [Bool] {
    try checkGroups(count: rewards.count, groupSize: groupSize)
    return stride(from: 0, to: rewards.count, by: groupSize).map { g in
        rewards[g..<(g + groupSize)].allSatisfy { $0 == rewards[g] }
    }
}

private func checkGroups(count: Int, groupSize: Int) throws {
    try require(groupSize >= 1, "groupSize must be >= 1, got \(groupSize)")
    try require(count % groupSize == 0,
                "\(count) rewards are not a whole number of groups of \(groupSize); order them group by group")
}
