import Model

/// Limits and sampling of TIR episodes.
public struct RolloutConfig: Codable, Equatable, Sendable {
    /// ToRL's C: code blocks executed per trajectory (1 = single-turn TIR; the toy world's two-step tasks need 2).
    /// A further closed code block ends the trajectory with `toolCallLimit`.
    public var maxToolCalls: Int = 2
    /// New policy tokens per turn; a turn cut by this limit is void.
    public var maxTurnTokens: Int = 160
    /// New tokens per trajectory (policy + tool); reaching it ends the trajectory (the cut turn is void).
    public var maxTrajectoryTokens: Int = 384
    /// Observation cap in bytes (head + marker + tail).
    public var observationCap: Int = 256
    /// How tool output is shown (ToRL's capped text, or SimpleTIR's "Code execution result: ..." format).
    public var observationStyle: ObservationStyle = .torl
    public var sampling = SamplingParams()
    /// Run closed code blocks in the sandbox. Off: a closed code block ends the trajectory (benchmarks).
    public var executeCode: Bool = true

    public init() {}

    public func validate() throws {
        guard maxToolCalls >= 0, maxTurnTokens > 0, maxTrajectoryTokens > 0, observationCap > 16 else {
            throw RolloutError("rollout config: need maxToolCalls >= 0, maxTurnTokens > 0, maxTrajectoryTokens > 0, observationCap > 16")
        }
        try sampling.validate()
    }
}

public struct RolloutError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
