/// Who wrote a token. Only `policy` tokens can ever carry gradient.
public enum TokenRole: UInt8, Codable, Sendable {
    case prompt, policy, tool
}

/// What happened to the code of a turn.
public enum ExecutionStatus: String, Codable, Sendable {
    case none          // the turn had no complete code block
    case ok            // ran to completion with exit code 0
    case error         // raised / non-zero exit
    case timeout       // killed at the wall-clock limit
    case failed        // memory/output limit or signal (a failure of the sandbox itself is never recorded)
}

/// One policy turn: the policy tokens it wrote, and the tool observation inserted after it (if any).
public struct Turn: Codable, Sendable, Equatable {
    public var policyRange: Range<Int>
    public var observationRange: Range<Int>?
    public var hasCode: Bool
    public var hasAnswer: Bool
    /// SimpleTIR: neither a complete code block nor a final answer (a turn cut by a token limit counts).
    public var isVoid: Bool
    public var execution: ExecutionStatus

    public init(policyRange: Range<Int>, observationRange: Range<Int>? = nil, hasCode: Bool, hasAnswer: Bool,
                isVoid: Bool, execution: ExecutionStatus = .none) {
        self.policyRange = policyRange
        self.observationRange = observationRange
        self.hasCode = hasCode
        self.hasAnswer = hasAnswer
        self.isVoid = isVoid
        self.execution = execution
    }
}

/// Why a trajectory stopped.
public enum FinishReason: String, Codable, Sendable {
    case answer          // the policy ended its turn with EOS (with or without a \boxed answer)
    case voidTurn        // a turn with neither code nor answer
    case toolCallLimit   // asked for more tool calls than allowed
    case tokenLimit      // max new tokens per turn / per trajectory, or the context is full
}

/// One sampled episode with per-token provenance. `tokens`, `roles` and `samplingLogProbs` have equal
/// length. `samplingLogProbs[i]` is the behaviour log-prob of token i given tokens[..<i]: what the policy
/// that ran the rollout assigned to it, under the sampling distribution (logits / temperature): tool tokens
/// from their prefill, policy tokens from sampling. Prompt tokens have 0: scoring them would cost a head
/// product per prompt token, and nothing reads them. So does token 0 (BOS), which follows nothing, and a token
/// the source did not score (a scripted source).
public struct Trajectory: Codable, Sendable {
    public var taskId: String
    public var group: Int
    public var tokens: [Int32]
    public var roles: [TokenRole]
    public var samplingLogProbs: [Float]
    public var turns: [Turn]
    public var toolCalls: Int
    public var finish: FinishReason
    public var answer: String?
    public var correct: Bool
    public var reward: Float

    public init(taskId: String, group: Int, tokens: [Int32], roles: [TokenRole], samplingLogProbs: [Float],
                turns: [Turn], toolCalls: Int, finish: FinishReason, answer: String?, correct: Bool, reward: Float) {
        self.taskId = taskId
        self.group = group
        self.tokens = tokens
        self.roles = roles
        self.samplingLogProbs = samplingLogProbs
        self.turns = turns
        self.toolCalls = toolCalls
        self.finish = finish
        self.answer = answer
        self.correct = correct
        self.reward = reward
    }

    public var hasVoidTurn: Bool { turns.contains { $0.isVoid } }
    public var policyTokenCount: Int { roles.reduce(0) { $0 + ($1 == .policy ? 1 : 0) } }
}
