import Foundation
import Model
import Rollout
import Training

/// AdamW and its learning-rate schedule: the `optimizer` section of a GRPO config.
public struct OptimizerConfig: Codable, Equatable, Sendable {
    public var lr: Float = 2e-4
    public var schedule: LRSchedule = .constant
    /// Optimizer updates of linear warmup.
    public var warmupSteps: Int = 0
    public var weightDecay: Float = 0
    /// Clip-by-global-norm threshold; the logged grad_norm is before clipping.
    public var gradClip: Float = 1

    public init() {}

    public func validate(_ check: FieldCheck = FieldCheck("optimizer")) throws {
        try check.number("lr", lr, 0...1, openLow: true)
        try check.int("warmupSteps", warmupSteps, 0...10_000_000)
        try check.number("weightDecay", weightDecay, 0...1)
        try check.number("gradClip", gradClip, 0...1e6, openLow: true)
    }
}

/// The KL penalty to the frozen base policy: the `kl` section.
public struct KLConfig: Codable, Equatable, Sendable {
    /// 0 = off (as in ToRL).
    public var beta: Float = 0
    public var estimator: KLEstimator = .k3

    public init() {}

    public func validate(_ check: FieldCheck = FieldCheck("kl")) throws {
        try check.number("beta", beta, 0...100)
    }
}

/// The built-in reward schemes by name.
public enum RewardKind: String, Codable, CaseIterable, Sendable {
    case torl, simpletir
}

/// The `reward` section.
public struct RewardConfig: Codable, Equatable, Sendable {
    public var scheme: RewardKind = .torl
    /// ToRL: -0.5 when no code ran successfully.
    public var executabilityPenalty = false

    public init() {}

    public var rewardScheme: RewardScheme {
        let base: RewardScheme = scheme == .simpletir ? SimpleTIRReward() : ToRLReward()
        return executabilityPenalty ? ExecutabilityPenalty(base) : base
    }
}

/// The `sandbox` section (the pool itself is built by the command line, the only importer of Sandbox).
public struct SandboxConfig: Codable, Equatable, Sendable {
    /// Wall-clock seconds per code execution.
    public var timeout: Double = 3
    /// Worker processes (0 = one per core).
    public var workers: Int = 0

    public init() {}

    public func validate(_ check: FieldCheck = FieldCheck("sandbox")) throws {
        try check.number("timeout", timeout, 0...600, openLow: true)
        try check.int("workers", workers, 0...256)
    }
}

/// Where the training tasks come from: the `tasks` section.
public struct TaskConfig: Codable, Equatable, Sendable {
    /// The built-in tasks used when `data` is empty.
    public enum Builtin: String, Codable, CaseIterable, Sendable {
        /// The toy world for the byte-level toy policy, arithmetic for a model with a real tokenizer.
        case auto
        /// The toy world's terse problems ("What is 4817*362-95?"), made for the byte-level toy policy.
        case toy
        /// `ArithmeticTasks`: natural-language arithmetic for real models.
        case arithmetic
    }
    public var builtin: Builtin = .auto
    /// Difficulty 1...4 of the built-in tasks (operand sizes; the toy world's steps); used when `data` is empty.
    public var difficulty: Int = 2
    /// A JSONL file of {question|problem, answer|solution} records to train on ("" = the toy world).
    public var data: String = ""
    /// A JSONL file to evaluate on; "" = hold out `heldOutFraction` of `data` (the toy world has its own split).
    public var evalData: String = ""
    /// Fraction of `data` held out for evaluation when `evalData` is empty.
    public var heldOutFraction: Double = 0.1

    public init() {}

    public func validate(_ check: FieldCheck = FieldCheck("tasks")) throws {
        try check.int("difficulty", difficulty, 1...4)
        try check.number("heldOutFraction", heldOutFraction, 0...0.9)
        try check.require(evalData.isEmpty || !data.isEmpty, "evalData", "empty unless tasks.data is set (the toy world has its own held-out split)", got: "\"\(evalData)\"")
    }
}
