import Foundation
import Model
import GRPO
import Training

/// One condition of the instability sweep: levers set on the shared config (as `--set key=value`), the
/// base it starts from and the arms it runs. Every lever is a condition a real training setup can have.
public struct SweepCondition: Codable, Equatable, Sendable {
    /// File-safe name: the directory under `conditions/` and the `--preset` name.
    public var name: String
    /// What the condition changes, in a few words (the report's first column).
    public var summary: String
    /// Shared-config fields the condition sets, e.g. "ppoEpochs=2".
    public var overrides: [String]
    /// Start from the demo's pretraining stopped after this many steps (a higher-entropy start); nil: the base.
    public var baseStep: Int?
    public var arms: [ExperimentArm]

    public init(name: String, summary: String, overrides: [String], baseStep: Int? = nil, arms: [ExperimentArm]) {
        self.name = name; self.summary = summary; self.overrides = overrides; self.baseStep = baseStep; self.arms = arms
    }
}

/// The sweep: conditions x arms x seeds, each condition an `InstabilityExperiment` in `conditions/<name>/`.
public struct InstabilitySweep: Sendable {
    public var shared: GRPOConfig
    public var conditions: [SweepCondition]
    public var seeds: [UInt64]

    public init(shared: GRPOConfig, conditions: [SweepCondition], seeds: [UInt64]) {
        self.shared = shared; self.conditions = conditions; self.seeds = seeds
    }

    /// The step of the demo's pretraining the early-base conditions start from.
    public static let earlyBaseStep = 1400

    /// Every named condition (each is also a `--preset`). `calls` is C of the multi-turn arms.
    public static func catalog(calls: Int = 5) -> [SweepCondition] {
        let naive = ExperimentArm.instabilityArms(multiTurnCalls: calls)
        let fixes = Array(naive.prefix(3))                              // naive, + void filter, - tool mask
        let corrections = ExperimentArm.correctionArms(multiTurnCalls: calls)
        let mismatch = ["correction.recomputeOldLogProbs=true", "rolloutWeights=bf16", "rolloutKVCache=bf16"]
        let offPolicy = ["miniBatches=4", "ppoEpochs=2"]
        let ood = ["rollout.observationStyle=simpletir", "rollout.maxTrajectoryTokens=448"]      // with arms of C = 10
        let ten = Array(ExperimentArm.instabilityArms(multiTurnCalls: 10).prefix(3))
        let tenCorrections = ExperimentArm.correctionArms(multiTurnCalls: 10)
        // The strongest combination that keeps a learning signal: SimpleTIR's observation format takes the
        // toy base's accuracy to about 0 (see ood-feedback), so `hot` keeps ToRL's.
        let hot = mismatch + offPolicy + ["rollout.maxTrajectoryTokens=448"]
        return [
            SweepCondition(name: "hot", summary: "early base, bf16 rollout, 8 updates per batch, C = 10",
                           overrides: hot, baseStep: earlyBaseStep, arms: tenCorrections),
            SweepCondition(name: "hot-lr", summary: "hot with a 5x learning rate (1e-3)",
                           overrides: hot + ["optimizer.lr=1e-3"], baseStep: earlyBaseStep, arms: Array(tenCorrections.prefix(3))),
            SweepCondition(name: "bf16", summary: "bf16 rollout (weights and KV cache), fp32 trainer, recomputed old log-probs",
                           overrides: mismatch, arms: corrections),
            SweepCondition(name: "offpolicy", summary: "8 updates per rollout batch (4 mini-batches x 2 epochs)",
                           overrides: offPolicy, arms: fixes),
            SweepCondition(name: "early-base", summary: "base from step \(earlyBaseStep) of 3000 of pretraining (higher entropy)",
                           overrides: [], baseStep: earlyBaseStep, arms: fixes),
            SweepCondition(name: "ood-feedback", summary: "SimpleTIR observations ('Code execution result: ...'), up to 10 tool calls",
                           overrides: ood, arms: ten),
            SweepCondition(name: "baseline", summary: "the default experiment (fp32 sampler = trainer, 2 updates per batch)",
                           overrides: [], arms: fixes),
        ]
    }

    /// `--sweep`: every catalog condition, 2 seeds x 50 steps (sized for at most an hour on a 2-core machine;
    /// docs/INSTABILITY.md has the measured time).
    public static func standard(steps: Int = 50, seeds: Int = 2) -> InstabilitySweep {
        InstabilitySweep(shared: sized(steps: steps), conditions: catalog(), seeds: (1...max(1, seeds)).map(UInt64.init))
    }

    /// `--sweep --large`: the same conditions, 3 seeds x 150 steps of 16 prompts x 8 samples.
    public static func large(steps: Int = 150, seeds: Int = 3) -> InstabilitySweep {
        var s = standard(steps: steps, seeds: seeds)
        s.shared.promptsPerStep = 16
        return s
    }

    /// `--preset NAME`: one catalog condition, 3 seeds x 100 steps.
    public static func preset(_ name: String, steps: Int = 100, seeds: Int = 3) throws -> InstabilitySweep {
        guard let c = catalog().first(where: { $0.name == name }) else {
            throw ConfigError("unknown preset '\(name)'; presets: \(catalog().map(\.name).joined(separator: ", "))")
        }
        return InstabilitySweep(shared: sized(steps: steps), conditions: [c], seeds: (1...max(1, seeds)).map(UInt64.init))
    }

    /// The instability experiment's shared config at `steps`.
    static func sized(steps: Int) -> GRPOConfig {
        var c = InstabilitySettings.defaults(steps: steps).shared
        c.checkpointEvery = 10
        return c
    }

    /// The experiment settings of one condition: its overrides on the shared config, its arms, the seeds.
    public func settings(_ c: SweepCondition) throws -> InstabilitySettings {
        var shared = try GRPOConfig.load(json: Data(self.shared.json.utf8), overrides: c.overrides)
        shared.seed = self.shared.seed
        return InstabilitySettings(shared: shared, arms: c.arms, seeds: seeds)
    }

    public func validate() throws {
        guard !conditions.isEmpty else { throw ConfigError("the sweep needs at least one condition") }
        guard Set(conditions.map(\.name)).count == conditions.count else { throw ConfigError("condition names must be unique") }
        for c in conditions {
            for o in c.overrides where ExperimentArm.armKeys.contains(String(o.prefix { $0 != "=" })) {
                throw ConfigError("condition \(c.name) sets '\(o)', a field the arms own")
            }
            try settings(c).validate()
        }
    }
}
