import Foundation
import Rollout

/// What carries no gradient: whole trajectories (void turns, truncation) and tool-output tokens. A filtered
/// trajectory still counts in its group's reward statistics (advantages are computed on all rewards first),
/// as in SimpleTIR's code: filtering only removes its gradient. The `filter` section of a GRPO config.
public struct TrajectoryFilter: Codable, Equatable, Sendable {
    /// SimpleTIR: drop trajectories containing a void turn (no complete code block and no answer).
    public var voidTurns = true
    /// Drop trajectories that stopped at a token limit (finish == .tokenLimit), DAPO-style overlong filtering.
    public var truncated = false
    /// Tool-output tokens carry no gradient (false only for the ablation experiment; see `lossMask`).
    public var maskToolTokens = true

    public init(voidTurns: Bool = true, truncated: Bool = false, maskToolTokens: Bool = true) {
        self.voidTurns = voidTurns
        self.truncated = truncated
        self.maskToolTokens = maskToolTokens
    }
}

/// keep[i] = trajectory i survives the filters. Each dropped trajectory is counted once, under the first
/// enabled filter that drops it (void turns before truncation; a turn cut by the token limit is usually
/// both).
public func applyFilters(_ t: [Trajectory], _ f: TrajectoryFilter)
    -> (keep: [Bool], droppedVoid: Int, droppedTruncated: Int) {
    var keep = [Bool](repeating: true, count: t.count)
    var droppedVoid = 0, droppedTruncated = 0
    for (i, traj) in t.enumerated() {
        if f.voidTurns && traj.hasVoidTurn {
            keep[i] = false; droppedVoid += 1
        } else if f.truncated && traj.finish == .tokenLimit {
            keep[i] = false; droppedTruncated += 1
        }
    }
    return (keep, droppedVoid, droppedTruncated)
}

/// The loss mask of a trajectory, aligned with `t.tokens`: 1 on policy tokens of a kept trajectory, 0
/// elsewhere. Prompt tokens are never 1. Tool tokens are 1 only when `maskToolTokens` is false (an
/// ablation arm; a kept trajectory only). A dropped trajectory is all 0.
///
/// Alignment in a packed batch: logits row j predicts token j+1, so the loss-mask entry of row j is
/// mask[j+1] (see `PolicyLossBatch.append`).
public func lossMask(_ t: Trajectory, keep: Bool, maskToolTokens: Bool = true) throws -> [Float] {
    try require(t.roles.count == t.tokens.count,
                "lossMask: trajectory \(t.taskId) has \(t.roles.count) roles for \(t.tokens.count) tokens")
    guard keep else { return [Float](repeating: 0, count: t.tokens.count) }
    return t.roles.map { role in
        switch role {
        case .policy: return 1
        case .tool: return maskToolTokens ? 0 : 1
        case .prompt: return 0
        }
    }
}
