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
        try preset(name, of: catalog(), what: "", shared: sized(steps: steps), seeds: seeds)
    }

    /// The condition `name` of `catalog` alone, with seeds 1...`seeds`.
    static func preset(_ name: String, of catalog: [SweepCondition], what: String, shared: GRPOConfig, seeds: Int) throws -> InstabilitySweep {
        guard let c = catalog.first(where: { $0.name == name }) else {
            throw ConfigError("unknown preset '\(name)'\(what); presets: \(catalog.map(\.name).joined(separator: ", "))")
        }
        return InstabilitySweep(shared: shared, conditions: [c], seeds: (1...max(1, seeds)).map(UInt64.init))
    }

    /// A real model's shared config: SimpleTIR's setup (its train.sh) at the scale of 2 cores. Kept: temperature
    /// 1, lr 1e-6, 4 mini-batches per rollout batch (3 of 4 updates off-policy), clip 0.2 / 0.28, dual clip 3,
    /// gradient clip 1, no KL, up to 5 turns, "Code execution result:" observations (stdout's first and last
    /// 256 characters, or stderr's last line), \boxed{} answers, old log-probs recomputed by the trainer, a bf16
    /// sampler (vLLM's) beside the fp32 trainer. Scaled down: 4 prompts x 8 samples (theirs 512 x 16), at most
    /// 160 tokens per turn and 512 per trajectory, the built-in tasks (`auto`: arithmetic, difficulty 1).
    public static func realSized(steps: Int) -> GRPOConfig {
        var c = InstabilitySettings.paperConditions(GRPOConfig())
        c.steps = steps
        c.promptsPerStep = 4
        c.groupSize = 8
        c.miniBatches = 4
        c.microBatch = 8
        c.microBatchTokens = 1024
        c.checkpointEvery = 5
        c.keepCheckpoints = 1
        c.optimizer.lr = 1e-6
        c.rollout.observationStyle = .simpletir
        c.rollout.maxTurnTokens = 160
        c.rollout.maxTrajectoryTokens = 512
        c.rollout.answerRule = .boxed
        c.rolloutWeights = .bf16
        c.rolloutKVCache = .bf16
        c.correction.recomputeOldLogProbs = true
        c.tasks.difficulty = 1
        return c
    }

    /// The conditions for a real model (each also a `--preset` with --checkpoint): SimpleTIR's setup and the
    /// levers a real setup has. Arms: naive multi-turn, SimpleTIR's void-turn filter, TIS, MIS. The first is
    /// the default sweep: SmolLM2-135M boxes no answer at temperature 1 (0 of 64 in the probe), so under
    /// SimpleTIR's \boxed{} reward no group has a signal and no arm gets a gradient; the last number of the
    /// final turn gives it one.
    public static func realCatalog(calls: Int = 5) -> [SweepCondition] {
        let arms = Array(ExperimentArm.correctionArms(multiTurnCalls: calls).prefix(4))
        let fast = ["optimizer.lr=2e-5"], lastNumber = ["rollout.answerRule=lastNumber"]
        return [
            SweepCondition(name: "lastnumber-fast", summary: "SimpleTIR's setup, lr 2e-5 (20x: compresses the timescale; the demo's rate), "
                           + "rewarding the last number when nothing is boxed", overrides: fast + lastNumber, arms: arms),
            SweepCondition(name: "simpletir", summary: "SimpleTIR's setup (lr 1e-6, 4 mini-batches, bf16 sampler, boxed answers)",
                           overrides: [], arms: arms),
            SweepCondition(name: "simpletir-fast", summary: "SimpleTIR's setup with lr 2e-5", overrides: fast, arms: arms),
            SweepCondition(name: "lastnumber-offpolicy", summary: "lastnumber-fast with 8 updates per rollout batch (4 mini-batches x 2 epochs)",
                           overrides: fast + lastNumber + ["ppoEpochs=2"], arms: arms),
            SweepCondition(name: "lastnumber-torl", summary: "lastnumber-fast with ToRL's ```output observations",
                           overrides: fast + lastNumber + ["rollout.observationStyle=torl"], arms: arms),
            SweepCondition(name: "lastnumber-retok", summary: "lastnumber-fast with SimpleTIR's decode / re-tokenize round trip between turns",
                           overrides: fast + lastNumber + ["rollout.retokenizeTurns=true"], arms: arms),
            SweepCondition(name: "lastnumber-t07", summary: "lastnumber-fast sampled at temperature 0.7 (the demo's: more reward signal, "
                           + "lower entropy); naive and void-turn filter", overrides: fast + lastNumber + ["rollout.sampling.temperature=0.7"],
                           arms: Array(arms.prefix(2))),
            SweepCondition(name: "lastnumber-t07-offpolicy", summary: "lastnumber-t07 with 8 updates per rollout batch (4 mini-batches "
                           + "x 2 epochs: 7 of 8 off-policy); naive and void-turn filter",
                           overrides: fast + lastNumber + ["rollout.sampling.temperature=0.7", "ppoEpochs=2"], arms: Array(arms.prefix(2))),
            SweepCondition(name: "lastnumber-t07-answervoid", summary: "lastnumber-t07 with the void-turn test reading the answer "
                           + "rule (a written number is a final answer): the filter drops only turns with neither code nor an "
                           + "answer the reward reads; naive and void-turn filter",
                           overrides: fast + lastNumber + ["rollout.sampling.temperature=0.7", "rollout.voidTurnAnswer=answerRule"],
                           arms: Array(arms.prefix(2))),
        ]
    }

    /// `--sweep --checkpoint REAL`: the first real condition, 2 seeds x 20 steps (sized for at most 90 minutes of
    /// SmolLM2-135M on 2 cores; docs/INSTABILITY.md has the measured time).
    public static func realStandard(steps: Int = 20, seeds: Int = 2) -> InstabilitySweep {
        InstabilitySweep(shared: realSized(steps: steps), conditions: [realCatalog()[0]], seeds: (1...max(1, seeds)).map(UInt64.init))
    }

    /// `--sweep --large --checkpoint REAL`, for a cluster over MPI: SimpleTIR's lr and every real condition,
    /// 3 seeds x 300 steps of 16 prompts x 8 samples.
    public static func realLarge(steps: Int = 300, seeds: Int = 3) -> InstabilitySweep {
        var s = InstabilitySweep(shared: realSized(steps: steps), conditions: realCatalog(), seeds: (1...max(1, seeds)).map(UInt64.init))
        s.shared.promptsPerStep = 16
        s.shared.groupSize = 8
        return s
    }

    /// `--preset NAME` with a real model: one real condition, 3 seeds x 20 steps.
    public static func realPreset(_ name: String, steps: Int = 20, seeds: Int = 3) throws -> InstabilitySweep {
        try preset(name, of: realCatalog(), what: " for a real model", shared: realSized(steps: steps), seeds: seeds)
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
