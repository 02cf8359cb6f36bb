/// Summary statistics of a set of trajectories: what evaluation reports and what every GRPO step logs, from
/// one definition.
public struct TrajectoryStats: Sendable, Equatable {
    public var count = 0
    /// Mean correctness (pass@1 when the set holds k samples per task).
    public var accuracy = 0.0
    /// Fraction of trajectories with at least one executed tool call, and calls per trajectory.
    public var toolCallRate = 0.0, meanToolCalls = 0.0
    public var meanTurns = 0.0
    /// Fraction of trajectories with a void turn.
    public var voidTurnRate = 0.0
    /// Fraction of executed code blocks that did not run cleanly.
    public var execErrorRate = 0.0
    /// Policy tokens per trajectory, and in all.
    public var meanLength = 0.0, policyTokens = 0

    public init(_ trajectories: [Trajectory]) {
        guard !trajectories.isEmpty else { return }
        let n = Double(trajectories.count)
        count = trajectories.count
        accuracy = Double(trajectories.filter(\.correct).count) / n
        toolCallRate = Double(trajectories.filter { $0.toolCalls > 0 }.count) / n
        meanToolCalls = Double(trajectories.map(\.toolCalls).reduce(0, +)) / n
        meanTurns = Double(trajectories.map(\.turns.count).reduce(0, +)) / n
        voidTurnRate = Double(trajectories.filter(\.hasVoidTurn).count) / n
        let executed = trajectories.flatMap(\.turns).filter { $0.execution != .none }
        execErrorRate = executed.isEmpty ? 0 : Double(executed.filter { $0.execution != .ok }.count) / Double(executed.count)
        policyTokens = trajectories.map(\.policyTokenCount).reduce(0, +)
        meanLength = Double(policyTokens) / n
    }
}
