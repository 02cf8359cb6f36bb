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
    /// Wall-clock seconds since the experiment started, and an estimate of what is left.
    public var elapsed: Double, eta: Double
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

    /// Whether `dir` holds a run with this config that started from this base.
    func sameRun(_ grpo: GRPORun, fingerprint: String) -> Bool {
        (try? GRPORun.savedConfig(grpo.dir)) == grpo.config && grpo.startedFrom(baseID: fingerprint)
    }

    var settingsURL: URL { outDir.appendingPathComponent("experiment.json") }

    /// Runs (or reuses / resumes) every arm x seed. `start` applies to the experiment: `.new` refuses an --out
    /// that already holds one, `.resume` needs one, `.force` starts every run over; otherwise finished runs are
    /// reused and interrupted ones resume. `executor` runs the code blocks (nil: code is not executed, every
    /// tool call fails, which only tests the plumbing).
    public func run(executor: CodeExecutor?, start: RunStart = .resumeOrNew,
                    progress: (ExperimentProgress) -> Void = { _ in }) async throws -> [ExperimentRun] {
        let fm = FileManager.default
        let baseCheckpoint = try resolveCheckpoint(base)
        guard Checkpoint.exists(baseCheckpoint) else {
            throw ConfigError("no base policy checkpoint in \(base.path) (expected model.safetensors there)")
        }
        if start == .new && fm.fileExists(atPath: settingsURL.path) {
            throw ConfigError("\(outDir.path) already holds an experiment: pass --resume to continue it (finished runs are "
                              + "reused), --force to run it all again, or choose another --out")
        }
        if start == .resume && !fm.fileExists(atPath: settingsURL.path) {
            throw ConfigError("nothing to resume in \(outDir.path): it holds no experiment (no experiment.json)")
        }
        try fm.createDirectory(at: outDir, withIntermediateDirectories: true)
        try writeSettings()
        let fingerprint = try baseFingerprint()
        let began = Date()
        let plan = self.plan
        var results: [ExperimentRun] = []
        var doneSteps = 0, freshSteps = 0, freshSeconds = 0.0
        let totalSteps = plan.count * settings.shared.steps
        for (i, item) in plan.enumerated() {
            let c = config(arm: item.arm, seed: item.seed)
            let grpo = GRPORun(config: c, dir: runDir(arm: item.arm, seed: item.seed))
            var metrics = start != .force && sameRun(grpo, fingerprint: fingerprint) ? try grpo.readMetrics() : []
            let finished = metrics.count == c.steps && (metrics.last?["step"] ?? -1) == Double(c.steps)
            if !finished {
                let tasks = ToyData(seed: item.seed, difficulty: c.tasks.difficulty).trainTasks
                metrics = try await grpo.run(base: base, tasks: tasks, executor: executor,
                                             start: start == .force ? .force : .resumeOrNew) { m in
                    freshSteps += 1
                    freshSeconds += m["timing_s/step"] ?? 0
                    let left = totalSteps - doneSteps - Int(m["step"] ?? 0)
                    progress(ExperimentProgress(arm: item.arm, seed: item.seed, run: i, runs: plan.count, metrics: m,
                                                elapsed: Date().timeIntervalSince(began),
                                                eta: freshSeconds / Double(freshSteps) * Double(left)))
                }
            }
            if !keepCheckpoints { try grpo.directory.removeCheckpoints() }
            doneSteps += c.steps
            results.append(ExperimentRun(arm: item.arm, seed: item.seed, dir: grpo.dir, metrics: metrics))
        }
        return results
    }

    /// Every finished run already on disk for these settings (for re-writing a report without training).
    public func finishedRuns() throws -> [ExperimentRun] {
        let fingerprint = try baseFingerprint()
        return try plan.compactMap { item in
            let c = config(arm: item.arm, seed: item.seed)
            let grpo = GRPORun(config: c, dir: runDir(arm: item.arm, seed: item.seed))
            guard sameRun(grpo, fingerprint: fingerprint) else { return nil }
            let m = try grpo.readMetrics()
            return m.count == c.steps ? ExperimentRun(arm: item.arm, seed: item.seed, dir: grpo.dir, metrics: m) : nil
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
