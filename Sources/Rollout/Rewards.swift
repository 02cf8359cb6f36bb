// Reward schemes (docs/DESIGN.md): ToRL +1/-1, SimpleTIR 1/0, optional executability penalty. Pluggable: a
// user-defined scheme is any type with `reward(_ input: RewardInput) -> Float`.

/// Everything a reward scheme may look at, reduced to plain facts about one finished trajectory.
public struct RewardInput: Sendable, Equatable {
    /// The extracted final answer is equivalent to the reference.
    public var correct: Bool
    /// The policy wrote a final answer (\boxed{...}) at all.
    public var hasAnswer: Bool
    /// Number of code blocks sent to the sandbox.
    public var toolCalls: Int
    /// At least one of them ran to completion (status ok).
    public var anyCodeSucceeded: Bool
    public var hasVoidTurn: Bool
    public var finish: FinishReason
    /// Policy tokens written (for length-shaped rewards).
    public var responseTokens: Int

    public init(correct: Bool, hasAnswer: Bool = true, toolCalls: Int = 0, anyCodeSucceeded: Bool = false,
                hasVoidTurn: Bool = false, finish: FinishReason = .answer, responseTokens: Int = 0) {
        self.correct = correct
        self.hasAnswer = hasAnswer
        self.toolCalls = toolCalls
        self.anyCodeSucceeded = anyCodeSucceeded
        self.hasVoidTurn = hasVoidTurn
        self.finish = finish
        self.responseTokens = responseTokens
    }

    /// The facts of a trajectory whose `correct`, `answer`, `turns` and `toolCalls` are already filled in.
    public init(_ t: Trajectory) {
        self.init(correct: t.correct, hasAnswer: t.answer != nil, toolCalls: t.toolCalls,
                  anyCodeSucceeded: t.turns.contains { $0.execution == .ok },
                  hasVoidTurn: t.hasVoidTurn, finish: t.finish, responseTokens: t.policyTokenCount)
    }
}

public protocol RewardScheme: Sendable {
    /// A short name for logs and the command line ("torl", "simpletir", ...).
    var name: String { get }
    func reward(_ input: RewardInput) -> Float
}

/// ToRL: +1 for a correct final answer, -1 otherwise (no answer, wrong answer, void turn).
public struct ToRLReward: RewardScheme {
    public init() {}
    public var name: String { "torl" }
    public func reward(_ input: RewardInput) -> Float { input.correct ? 1 : -1 }
}

/// SimpleTIR: 1 for a correct final answer, 0 otherwise.
public struct SimpleTIRReward: RewardScheme {
    public init() {}
    public var name: String { "simpletir" }
    public func reward(_ input: RewardInput) -> Float { input.correct ? 1 : 0 }
}

/// ToRL's executability penalty on top of any scheme: `penalty` (-0.5) is added when no code ran
/// successfully. By default a trajectory without any tool call is penalised too ("no code ran
/// successfully"); with `onlyWhenCodeFailed` only trajectories whose tool calls all failed are.
public struct ExecutabilityPenalty: RewardScheme {
    public var base: any RewardScheme
    public var penalty: Float
    public var onlyWhenCodeFailed: Bool

    public init(_ base: any RewardScheme, penalty: Float = -0.5, onlyWhenCodeFailed: Bool = false) {
        self.base = base
        self.penalty = penalty
        self.onlyWhenCodeFailed = onlyWhenCodeFailed
    }

    public var name: String { base.name + "+exec" }

    public func reward(_ input: RewardInput) -> Float {
        let penalised = !input.anyCodeSucceeded && (!onlyWhenCodeFailed || input.toolCalls > 0)
        return base.reward(input) + (penalised ? penalty : 0)
    }
}

public struct UnknownRewardScheme: Error, CustomStringConvertible {
    public var name: String
    public var description: String {
        "unknown reward scheme \"\(name)\"; use one of: \(rewardSchemeNames.joined(separator: ", "))"
    }
}

/// The names `rewardScheme(named:)` accepts.
public let rewardSchemeNames = ["torl", "simpletir", "torl+exec", "simpletir+exec"]

/// Built-in schemes by name, for the command line.
public func rewardScheme(named name: String) throws -> any RewardScheme {
    switch name.lowercased() {
    case "torl": return ToRLReward()
    case "simpletir": return SimpleTIRReward()
    case "torl+exec": return ExecutabilityPenalty(ToRLReward())
    case "simpletir+exec": return ExecutabilityPenalty(SimpleTIRReward())
    default: throw UnknownRewardScheme(name: name)
    }
}

/// Final answer and correctness of a trajectory's policy text against the reference answer.
public func gradeAnswer(policyText: String, reference: String) -> (answer: String?, correct: Bool) {
    let answer = extractBoxed(policyText)
    return (answer, answer.map { answersEquivalent($0, reference) } ?? false)
}
