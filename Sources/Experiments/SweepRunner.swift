import Distributed
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

    /// Runs every condition: first rank 0 prepares each condition's directory, then the ranks share the probes
    /// of the bases and the runs of all conditions (`doShare`: a rank that is done with one condition's runs
    /// goes on with the next), and when every rank is done rank 0 writes each condition's REPORT.md and
    /// returns the results (the other ranks return none). `progress` gets the condition with each step.
    public func run(executor: CodeExecutor?, start: RunStart = .resumeOrNew, cluster: Cluster = .shared,
                    progress: @escaping (SweepCondition, ExperimentProgress) -> Void = { _, _ in }) async throws
        -> (results: [ConditionResult], share: WorkShare) {
        let experiments = try sweep.conditions.map(experiment)
        if cluster.isRoot {
            for (c, e) in zip(sweep.conditions, experiments) {
                try e.prepare(start)
                if start == .force { try? FileManager.default.removeItem(at: probeURL(c)) }
            }
        }
        try cluster.barrier()
        var share = WorkShare()
        var items: [[WorkItem]] = []
        for (c, e) in zip(sweep.conditions, experiments) {
            items.append([try probeItem(c, e, executor: executor)]
                         + (try e.workItems(executor: executor, cluster: cluster) { progress(c, $0) }))
            share = share + (try await doShare(of: items.last!, claims: e.claimsDir))
        }
        try cluster.barrier()
        guard cluster.isRoot else { return ([], share) }
        var results: [ConditionResult] = []
        for (i, (c, e)) in zip(sweep.conditions, experiments).enumerated() {
            try requireDone(items[i], claims: e.claimsDir)
            let r = result(c, e, try e.collect())
            _ = try InstabilityReport(experiment: e, runs: r.runs).write()
            results.append(r)
        }
        return (results, share)
    }

    /// Measures the condition's base (one rollout batch of its first arm's first step, seed 1) into
    /// base_probe.json; done when that file is there for the same base and config.
    func probeItem(_ c: SweepCondition, _ e: InstabilityExperiment, executor: CodeExecutor?) throws -> WorkItem {
        var config = e.config(arm: c.arms[0], seed: 1)
        config.seed = 1
        let source = "\(try e.baseFingerprint()) \(String(CRC32C.checksum(Array(config.json.utf8)), radix: 16))"
        let url = probeURL(c)
        return WorkItem(name: "base-probe", isDone: {
            BaseProbe.read(url)?.source == source
        }) {
            var probe = try await BaseProbe.measure(base: e.base, config: config, tasks: e.tasks(seed: 1), executor: executor)
            probe.source = source
            try probe.write(to: url)
        }
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
        let probe = BaseProbe.read(probeURL(c))
        return ConditionResult(condition: c, experiment: e, runs: runs, summaries: e.summarize(runs), probe: probe)
    }
}
