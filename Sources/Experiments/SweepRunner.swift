import Foundation
import Model
import GRPO
import Rollout
import Training

/// One finished condition of a sweep: its experiment, runs, per-arm summaries and the probe of its base.
public struct ConditionResult {
    public var condition: SweepCondition
    public var experiment: InstabilityExperiment
    public var runs: [ExperimentRun]
    public var summaries: [ArmSummary]
    public var probe: BaseProbe?
}

/// Runs a sweep in `out`: each condition as an `InstabilityExperiment` in `out/conditions/<name>/` (finished
/// runs are reused, interrupted ones resume), with its own REPORT.md and plots, then the sweep's REPORT.md.
public struct SweepRunner {
    public let sweep: InstabilitySweep
    public let outDir: URL
    /// The base of every condition: `baseStep` nil maps to the main base.
    public let bases: [Int?: URL]
    public var keepCheckpoints = false

    public init(sweep: InstabilitySweep, outDir: URL, bases: [Int?: URL]) throws {
        try sweep.validate()
        for c in sweep.conditions where bases[c.baseStep] == nil {
            throw ConfigError("no base policy for condition \(c.name) (base step \(c.baseStep.map(String.init) ?? "final"))")
        }
        self.sweep = sweep
        self.outDir = outDir
        self.bases = bases
    }

    public func conditionDir(_ c: SweepCondition) -> URL {
        outDir.appendingPathComponent("conditions").appendingPathComponent(c.name)
    }

    public func experiment(_ c: SweepCondition) throws -> InstabilityExperiment {
        var e = try InstabilityExperiment(settings: sweep.settings(c), outDir: conditionDir(c), base: bases[c.baseStep]!)
        e.keepCheckpoints = keepCheckpoints
        return e
    }

    func probeURL(_ c: SweepCondition) -> URL { conditionDir(c).appendingPathComponent("base_probe.json") }

    /// Runs every condition (probing its base first); `progress` gets the condition's name with each step.
    public func run(executor: CodeExecutor?,
                    progress: (SweepCondition, ExperimentProgress) -> Void = { _, _ in }) async throws -> [ConditionResult] {
        var results: [ConditionResult] = []
        for c in sweep.conditions {
            let e = try experiment(c)
            try FileManager.default.createDirectory(at: e.outDir, withIntermediateDirectories: true)
            var probeConfig = e.config(arm: c.arms[0], seed: 1)
            probeConfig.seed = 1
            let probe = try await BaseProbe.measure(base: e.base, config: probeConfig, executor: executor)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(probe).write(to: probeURL(c), options: .atomic)
            let runs = try await e.run(executor: executor) { progress(c, $0) }
            results.append(result(c, e, runs))
            _ = try InstabilityReport(experiment: e, runs: runs).write()
        }
        return results
    }

    /// The finished conditions on disk (for rewriting the report without training).
    public func finished() throws -> [ConditionResult] {
        try sweep.conditions.compactMap { c in
            let e = try experiment(c)
            let runs = try e.finishedRuns()
            return runs.isEmpty ? nil : result(c, e, runs)
        }
    }

    func result(_ c: SweepCondition, _ e: InstabilityExperiment, _ runs: [ExperimentRun]) -> ConditionResult {
        let probe = (try? Data(contentsOf: probeURL(c))).flatMap { try? JSONDecoder().decode(BaseProbe.self, from: $0) }
        return ConditionResult(condition: c, experiment: e, runs: runs, summaries: e.summarize(runs), probe: probe)
    }
}
