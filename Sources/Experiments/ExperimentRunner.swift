import Distributed
import Foundation
import GRPO
import Model
import Pretrain
import Rollout
import Training

/// One finished run of the experiment: an arm with one seed.
public struct ExperimentRun: Sendable {
    public var arm: ExperimentArm
    public var seed: UInt64
    public var dir: URL
    public var metrics: [[String: Double]]

    public var metricsURL: URL { dir.appendingPathComponent("metrics.jsonl") }
}

/// Where a running experiment is, for progress lines.
public struct ExperimentProgress {
    public var arm: ExperimentArm
    public var seed: UInt64
    /// 0-based index of this run, and the number of runs.
    public var run: Int, runs: Int
    /// This step's metrics line.
    public var metrics: [String: Double]
    /// This process's share of the steps done (see `StepClock`): all of them in one process.
    public var finished: Int
    /// An estimate of the seconds left (this process's share, when ranks share the runs).
    public var eta: Double
}

/// Steps done and the time they took, for progress lines. Under mpirun a process sees only its own steps and
/// what was done before it started, so it counts its share: what was found done / ranks + what it trained.
final class StepClock {
    let total: Int, found: Int, ranks: Int
    private var trained = 0, seconds = 0.0

    init(total: Int, found: Int, ranks: Int) { self.total = total; self.found = found; self.ranks = ranks }

    /// Records a trained step (its metrics line); returns this process's share of the steps done.
    func tick(_ m: [String: Double]) -> Int {
        trained += 1
        seconds += m["timing_s/step"] ?? 0
        return found / ranks + trained
    }

    /// Seconds left of this process's share, at its mean step time so far.
    var eta: Double { seconds / Double(max(1, trained)) * Double(max(0, (total - found) / ranks - trained)) }
}

/// Runs every arm with every seed from one base checkpoint, each as a `GRPORun` in
/// `out/arms/<arm>/seed-<k>/` (metrics.jsonl, config.json, base.txt, checkpoints while running). A finished
/// run (its metrics reach `steps` under the same config and base) is reused, an interrupted one resumes from its checkpoint,
/// so a re-invocation of the same experiment continues where it stopped.
public struct InstabilityExperiment {
    public let settings: InstabilitySettings
    public let outDir: URL
    public let base: URL
    /// Keep each run's final checkpoint (policy + AdamW state, ~40 MB for the demo policy) after it finished.
    public var keepCheckpoints = false

    public init(settings: InstabilitySettings, outDir: URL, base: URL) throws {
        try settings.validate()
        self.settings = settings
        self.outDir = outDir
        self.base = base
    }

    public func runDir(arm: ExperimentArm, seed: UInt64) -> URL {
        outDir.appendingPathComponent("arms").appendingPathComponent(arm.name).appendingPathComponent("seed-\(seed)")
    }

    public func config(arm: ExperimentArm, seed: UInt64) -> GRPOConfig {
        var c = arm.config(shared: settings.shared)
        c.seed = seed
        return c
    }

    /// Seed-major order (every arm of seed 1, then seed 2, ...), so a stopped experiment has whole seeds.
    public var plan: [(arm: ExperimentArm, seed: UInt64)] {
        settings.seeds.flatMap { s in settings.arms.map { (arm: $0, seed: s) } }
    }

    /// Which base the runs start from (`checkpointFingerprint`): a finished run is reused only if it started
    /// from the same base (each run directory records it in base.txt).
    public func baseFingerprint() throws -> String { try checkpointFingerprint(try resolveCheckpoint(base)) }

    /// The train tasks of the runs with `seed`: the built-in tasks of the shared config (`tasks.builtin`; `auto`
    /// gives a real model arithmetic and the toy policy its world).
    public func tasks(seed: UInt64) -> TaskSource {
        BuiltinTasks(settings.shared.tasks, seed: seed, byteLevel: isByteLevel(base)).train
    }

    /// Whether `dir` holds a run with this config that started from this base.
    func sameRun(_ grpo: GRPORun, fingerprint: String) -> Bool {
        (try? GRPORun.savedConfig(grpo.dir)) == grpo.config && grpo.startedFrom(baseID: fingerprint)
    }

    var settingsURL: URL { outDir.appendingPathComponent("experiment.json") }
    /// The claim files of the work items (see `doShare`).
    var claimsDir: URL { outDir.appendingPathComponent("claims") }

    /// Runs (or reuses / resumes) every arm x seed. `start` applies to the experiment: `.new` refuses an --out
    /// that already holds one, `.resume` needs one, `.force` starts every run over; otherwise finished runs are
    /// reused and interrupted ones resume. `executor` runs the code blocks (nil: code is not executed, every
    /// tool call fails, which only tests the plumbing). Under mpirun the ranks share the runs (each trains its
    /// runs alone, see `doShare`; the output directory must be one every rank sees) and rank 0 returns all
    /// the finished runs once every rank is done; the other ranks return none.
    public func run(executor: CodeExecutor?, start: RunStart = .resumeOrNew, cluster: Cluster = .shared,
                    progress: @escaping (ExperimentProgress) -> Void = { _ in }) async throws -> (runs: [ExperimentRun], share: WorkShare) {
        if cluster.isRoot { try prepare(start) }
        try cluster.barrier()
        let items = try workItems(executor: executor, cluster: cluster, progress: progress)
        let share = try await doShare(of: items, claims: claimsDir)
        try cluster.barrier()
        guard cluster.isRoot else { return ([], share) }
        try requireDone(items, claims: claimsDir)
        return (try collect(), share)
    }

    /// Rank 0's part before the runs: refuses what `start` forbids, writes experiment.json; `.force` deletes
    /// the planned runs (each under its run lock), so that every rank then continues whatever is on disk.
    func prepare(_ start: RunStart) throws {
        let fm = FileManager.default
        guard modelExists(base) else {
            throw ConfigError("no base policy at \(base.path) (expected a .gguf file or a directory with model.safetensors)")
        }
        if start == .new && fm.fileExists(atPath: settingsURL.path) {
            throw ConfigError("\(outDir.path) already holds an experiment: pass --resume to continue it (finished runs are "
                              + "reused), --force to run it all again, or choose another --out")
        }
        if start == .resume && !fm.fileExists(atPath: settingsURL.path) {
            throw ConfigError("nothing to resume in \(outDir.path): it holds no experiment (no experiment.json)")
        }
        try makeDirectory(outDir)
        if start == .force {
            for item in plan where fm.fileExists(atPath: runDir(arm: item.arm, seed: item.seed).path) {
                let grpo = GRPORun(config: config(arm: item.arm, seed: item.seed), dir: runDir(arm: item.arm, seed: item.seed))
                let lock = try grpo.directory.lock()
                try fm.removeItem(at: grpo.dir)
                withExtendedLifetime(lock) {}
            }
        }
        try writeSettings()
    }

    /// One item per arm x seed, in plan order: each trains its run alone (`Cluster.solo`) from the base or its
    /// last checkpoint and drops its checkpoints when finished (unless `keepCheckpoints`).
    func workItems(executor: CodeExecutor?, cluster: Cluster, progress: @escaping (ExperimentProgress) -> Void) throws -> [WorkItem] {
        let fingerprint = try baseFingerprint()
        let plan = self.plan, steps = settings.shared.steps
        let runs = plan.map { GRPORun(config: config(arm: $0.arm, seed: $0.seed), dir: runDir(arm: $0.arm, seed: $0.seed)) }
        let found = runs.filter { isFinished($0, fingerprint: fingerprint) }.count * steps
        let clock = StepClock(total: plan.count * steps, found: found, ranks: cluster.size)
        return zip(plan, runs).enumerated().map { i, pair in
            let (item, run) = pair
            var grpo = run
            grpo.cluster = .solo
            return WorkItem(name: "\(item.arm.name)-seed-\(item.seed)", isDone: { self.isFinished(grpo, fingerprint: fingerprint) }) {
                _ = try await grpo.run(base: self.base, tasks: self.tasks(seed: item.seed), executor: executor, start: .resumeOrNew) { m in
                    progress(ExperimentProgress(arm: item.arm, seed: item.seed, run: i, runs: plan.count, metrics: m,
                                                finished: clock.tick(m), eta: clock.eta))
                }
                if !self.keepCheckpoints { try grpo.directory.removeCheckpoints() }
            }
        }
    }

    /// The finished runs, without their checkpoints unless `keepCheckpoints` (a run whose process was killed
    /// between its last step and the clean-up still has them).
    func collect() throws -> [ExperimentRun] {
        let runs = try finishedRuns()
        if !keepCheckpoints {
            for r in runs { try GRPORun(config: config(arm: r.arm, seed: r.seed), dir: r.dir).directory.removeCheckpoints() }
        }
        return runs
    }

    /// Whether `grpo` is a finished run of this config that started from this base.
    func isFinished(_ grpo: GRPORun, fingerprint: String) -> Bool {
        guard sameRun(grpo, fingerprint: fingerprint), let m = try? grpo.readMetrics() else { return false }
        return m.count == grpo.config.steps && (m.last?["step"] ?? -1) == Double(grpo.config.steps)
    }

    /// Every finished run already on disk for these settings (for re-writing a report without training).
    public func finishedRuns() throws -> [ExperimentRun] {
        let fingerprint = try baseFingerprint()
        return try plan.compactMap { item in
            let grpo = GRPORun(config: config(arm: item.arm, seed: item.seed), dir: runDir(arm: item.arm, seed: item.seed))
            guard isFinished(grpo, fingerprint: fingerprint) else { return nil }
            return ExperimentRun(arm: item.arm, seed: item.seed, dir: grpo.dir, metrics: try grpo.readMetrics())
        }
    }

    /// experiment.json: the settings and the base checkpoint, for the record.
    func writeSettings() throws {
        struct Record: Encodable { var base: String; var settings: InstabilitySettings }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try enc.encode(Record(base: base.path, settings: settings))
            .write(to: settingsURL, options: .atomic)
    }

    /// Groups runs by arm (in arm order) into summaries.
    public func summarize(_ runs: [ExperimentRun]) -> [ArmSummary] {
        settings.arms.compactMap { arm in
            let mine = runs.filter { $0.arm == arm }
            return mine.isEmpty ? nil
                : ArmSummary(arm: arm, runs: mine, trajectoriesPerStep: settings.shared.promptsPerStep * settings.shared.groupSize)
        }
    }
}
