import Foundation
import GRPO
import Model
import Training

/// One arm of the instability experiment: the knobs the arms differ in. Everything else comes from the
/// shared `InstabilitySettings.shared` config, so arms see the same base policy, tasks, sampling seeds and
/// compute (steps x prompts x samples).
public struct ExperimentArm: Codable, Equatable, Sendable {
    /// File-safe identifier: directory names, CSV rows, plot legends.
    public var name: String
    /// ToRL's C: 1 = single-turn, >= 2 = multi-turn.
    public var maxToolCalls: Int
    /// SimpleTIR: trajectories with a void turn carry no gradient.
    public var filterVoidTurns: Bool
    /// Tool-output tokens carry no gradient.
    public var maskToolTokens: Bool
    /// TIS or MIS against the sampler's log-probs (turns on recomputed old log-probs).
    public var importanceCorrection: ImportanceCorrection

    public init(name: String, maxToolCalls: Int, filterVoidTurns: Bool, maskToolTokens: Bool,
                importanceCorrection: ImportanceCorrection = .none) {
        self.name = name
        self.maxToolCalls = maxToolCalls
        self.filterVoidTurns = filterVoidTurns
        self.maskToolTokens = maskToolTokens
        self.importanceCorrection = importanceCorrection
    }

    /// "multi-turn (C=5), void filter off, tool mask on"
    public var label: String {
        (maxToolCalls <= 1 ? "single-turn (C=\(maxToolCalls))" : "multi-turn (C=\(maxToolCalls))")
            + ", void filter " + (filterVoidTurns ? "on" : "off") + ", tool mask " + (maskToolTokens ? "on" : "off")
            + (importanceCorrection == .none ? "" : ", " + importanceCorrection.rawValue.uppercased())
    }

    /// The shared config with this arm's knobs.
    public func config(shared: GRPOConfig) -> GRPOConfig {
        var c = shared
        c.rollout.maxToolCalls = maxToolCalls
        c.filter.voidTurns = filterVoidTurns
        c.filter.maskToolTokens = maskToolTokens
        c.correction.mode = importanceCorrection
        if importanceCorrection != .none { c.correction.recomputeOldLogProbs = true }
        return c
    }

    /// The fields an arm owns: a shared override of one of them would silently be ignored.
    public static let armKeys: Set<String> = ["rollout.maxToolCalls", "filter.voidTurns", "filter.maskToolTokens", "correction.mode"]

    /// The 2x2 of void-turn filtering x tool-output masking in the multi-turn setting, plus the single-turn
    /// arm with the standard recipe (filter on, mask on). The first arm is the naive multi-turn setting
    /// SimpleTIR reports as unstable.
    public static func instabilityArms(multiTurnCalls: Int = 5) -> [ExperimentArm] {
        let c = multiTurnCalls
        return [
            ExperimentArm(name: "multi-nofilter-mask", maxToolCalls: c, filterVoidTurns: false, maskToolTokens: true),
            ExperimentArm(name: "multi-filter-mask", maxToolCalls: c, filterVoidTurns: true, maskToolTokens: true),
            ExperimentArm(name: "multi-nofilter-nomask", maxToolCalls: c, filterVoidTurns: false, maskToolTokens: false),
            ExperimentArm(name: "multi-filter-nomask", maxToolCalls: c, filterVoidTurns: true, maskToolTokens: false),
            ExperimentArm(name: "single-filter-mask", maxToolCalls: 1, filterVoidTurns: true, maskToolTokens: true),
        ]
    }

    /// The naive multi-turn arm, void-turn filtering, TIS, MIS, and filtering with TIS: the fixes a sampler
    /// that is not the trainer calls for.
    public static func correctionArms(multiTurnCalls c: Int) -> [ExperimentArm] {
        [
            ExperimentArm(name: "multi-nofilter-mask", maxToolCalls: c, filterVoidTurns: false, maskToolTokens: true),
            ExperimentArm(name: "multi-filter-mask", maxToolCalls: c, filterVoidTurns: true, maskToolTokens: true),
            ExperimentArm(name: "multi-nofilter-mask-tis", maxToolCalls: c, filterVoidTurns: false, maskToolTokens: true,
                          importanceCorrection: .tis),
            ExperimentArm(name: "multi-nofilter-mask-mis", maxToolCalls: c, filterVoidTurns: false, maskToolTokens: true,
                          importanceCorrection: .mis),
            ExperimentArm(name: "multi-filter-mask-tis", maxToolCalls: c, filterVoidTurns: true, maskToolTokens: true,
                          importanceCorrection: .tis),
        ]
    }
}

/// What an instability experiment runs: one shared GRPO config, the arms, the seeds.
public struct InstabilitySettings: Codable, Equatable, Sendable {
    public var shared: GRPOConfig
    public var arms: [ExperimentArm]
    public var seeds: [UInt64]

    public init(shared: GRPOConfig, arms: [ExperimentArm], seeds: [UInt64]) {
        self.shared = shared
        self.arms = arms
        self.seeds = seeds
    }

    /// The paper's conditions on top of `base`: temperature 1 and no truncation of the sampling
    /// distribution, no KL term, no dynamic sampling (equal compute per arm), clipping at 1 with the
    /// pre-clip norm logged, ToRL's +1/-1 reward.
    public static func paperConditions(_ base: GRPOConfig) -> GRPOConfig {
        var c = base
        c.rollout.sampling = SamplingParams(temperature: 1, topK: 0, topP: 1)
        c.kl.beta = 0
        c.dynamicSampling = false
        c.optimizer.gradClip = 1
        return c
    }

    /// Default sizing (timed on this 2-core machine, see ExperimentCommand): 5 arms x 3 seeds x 100 steps
    /// of 8 prompts x 8 samples, about 10 minutes from the demo's base policy.
    public static func defaults(steps: Int = 100, seeds: Int = 3, multiTurnCalls: Int = 5) -> InstabilitySettings {
        var c = paperConditions(GRPOConfig())
        c.steps = steps
        c.promptsPerStep = 8
        c.groupSize = 8
        c.miniBatches = 2
        c.microBatch = 16
        c.rollout.maxTrajectoryTokens = 384
        c.checkpointEvery = 5
        return InstabilitySettings(shared: c, arms: ExperimentArm.instabilityArms(multiTurnCalls: multiTurnCalls),
                                   seeds: (1...max(1, seeds)).map(UInt64.init))
    }

    /// `--quick`: the same arms on a few small steps; checks the pipeline, proves nothing.
    public static func quick(steps: Int = 4, seeds: Int = 2, multiTurnCalls: Int = 5) -> InstabilitySettings {
        var s = defaults(steps: steps, seeds: seeds, multiTurnCalls: multiTurnCalls)
        s.shared.promptsPerStep = 4
        s.shared.groupSize = 4
        s.shared.rollout.maxTrajectoryTokens = 256
        s.shared.checkpointEvery = 0
        return s
    }

    public func validate() throws {
        guard !arms.isEmpty else { throw ConfigError("the experiment needs at least one arm") }
        guard !seeds.isEmpty else { throw ConfigError("the experiment needs at least one seed") }
        guard Set(arms.map(\.name)).count == arms.count else { throw ConfigError("arm names must be unique") }
        guard Set(seeds).count == seeds.count else { throw ConfigError("seeds must be unique") }
        for a in arms {
            guard !a.name.isEmpty, a.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ConfigError("arm name '\(a.name)' must be letters, digits, '-' or '_'")
            }
            try a.config(shared: shared).validate()
        }
    }
}
