import Model

/// Limits and sampling of TIR episodes: the `rollout` section of a GRPO run's config, and what `tir eval`
/// uses (the run's own section when it evaluates a run), so training and evaluation share one set of limits.
public struct RolloutConfig: Codable, Equatable, Sendable {
    /// ToRL's C: code blocks executed per trajectory (1 = single-turn TIR; the toy world's two-step tasks need 2).
    /// A further closed code block ends the trajectory with `toolCallLimit`.
    public var maxToolCalls: Int = 2
    /// New policy tokens per turn; a turn cut by this limit is void.
    public var maxTurnTokens: Int = 128
    /// New tokens per trajectory (policy + tool); reaching it ends the trajectory (the cut turn is void).
    public var maxTrajectoryTokens: Int = 320
    /// Observation cap in bytes (head + marker + tail).
    public var observationCap: Int = 256
    /// How tool output is shown (ToRL's capped text, or SimpleTIR's "Code execution result: ..." format).
    public var observationStyle: ObservationStyle = .torl
    public var sampling = SamplingParams()
    /// Follows the question in a chat model's user turn ("" = the built-in one for the observation style).
    public var instruction: String = ""
    /// Which text is the final answer (`AnswerRule`).
    public var answerRule: AnswerRule = .boxed
    /// What the void-turn test counts as a final answer (`VoidTurnAnswer`).
    public var voidTurnAnswer: VoidTurnAnswer = .boxed
    /// Run closed code blocks in the sandbox. Off: a closed code block ends the trajectory (benchmarks).
    public var executeCode: Bool = true
    /// SimpleTIR's pipeline: before an observation, the turn's sampled tokens are decoded and encoded again, and
    /// the trajectory (and the sampler's context) goes on with the re-encoded ids, scored by the sampler. Off
    /// (the default): token in, token out.
    public var retokenizeTurns: Bool = false

    public init() {}

    public func validate(_ check: FieldCheck = FieldCheck("rollout")) throws {
        try check.int("maxToolCalls", maxToolCalls, 0...64)
        try check.int("maxTurnTokens", maxTurnTokens, 1...65536)
        try check.int("maxTrajectoryTokens", maxTrajectoryTokens, 1...(1 << 20))
        try check.int("observationCap", observationCap, 17...(1 << 20))
        try sampling.validate(check.section("sampling"))
    }
}

/// What counts as a final answer in the void-turn test (a turn with neither a complete code block nor a final
/// answer is void).
public enum VoidTurnAnswer: String, Codable, CaseIterable, Sendable {
    /// A complete \boxed{...}: SimpleTIR's rule.
    case boxed
    /// What `answerRule` reads in the turn: under `lastNumber` a written number counts too (the reward credits
    /// it), so a final answer in words is not void.
    case answerRule

    /// Does the turn's text hold a final answer?
    public func hasAnswer(_ text: String, rule: AnswerRule) -> Bool {
        switch (self, rule) {
        case (.boxed, _), (.answerRule, .boxed): return hasFinalAnswer(text)
        case (.answerRule, .lastNumber): return hasFinalAnswer(text) || lastWrittenNumber(in: text) != nil
        }
    }
}

public struct RolloutError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
