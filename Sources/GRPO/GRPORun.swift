import Distributed
import Foundation
import Model
import Rollout
import Tensor
import Training

/// A GRPO run on disk: `config.json` (written first: the run exists from then on), `base.txt` (which base
/// policy it started from), `metrics.jsonl` (one line per step, named by `MetricNames`), `tb/` (the same
/// scalars for TensorBoard) and versioned checkpoints (`RunDirectory`).
/// Resuming truncates metrics written after the current checkpoint (all of them when there is none yet, and
/// the run starts again from the base), so a run killed at any moment and resumed produces the same files
/// as an uninterrupted one.
public struct GRPORun {
    public let config: GRPOConfig
    public let dir: URL
    /// The processes that train this run together (data parallel); `.solo` when each rank of a job trains
    /// runs of its own (a distributed sweep).
    public var cluster: Cluster = .shared
    public var directory: RunDirectory {
        RunDirectory(dir, settings: "config.json", runFiles: ["metrics.jsonl", "base.txt", "eval.json", "tb", "curves.svg"],
                     legacyCheckpoint: "checkpoint", keep: config.keepCheckpoints)
    }
    public var metricsURL: URL { dir.appendingPathComponent("metrics.jsonl") }
    var baseURL: URL { dir.appendingPathComponent("base.txt") }
    public var tensorBoardDir: URL { dir.appendingPathComponent("tb") }

    public init(config: GRPOConfig, dir: URL) {
        self.config = config
        self.dir = dir
    }

    /// The run's current checkpoint (nil before the first one).
    public func latestCheckpoint() throws -> URL? { try directory.latestCheckpoint() }

    /// The config saved in a GRPO run directory (old flat configs are migrated), nil when `dir` holds no GRPO
    /// run (a plain checkpoint's config.json is the policy's; a GRPO run also has metrics.jsonl).
    public static func savedConfig(_ dir: URL) throws -> GRPOConfig? {
        let fm = FileManager.default
        guard fm.fileExists(atPath: dir.appendingPathComponent("metrics.jsonl").path),
              let data = fm.contents(atPath: dir.appendingPathComponent("config.json").path) else { return nil }
        do { return try GRPOConfig.load(json: data) } catch {
            throw ConfigError("\(dir.path)/config.json: \(error)")
        }
    }

    /// Trains from `base` (or continues this run, see `RunStart`) to `config.steps`; returns all metrics lines.
    /// Every rank of `cluster` trains (data parallel, see `GRPOTrainer.cluster`); its rank 0 alone owns the run
    /// directory (lock, checks, metrics, checkpoints) and tells the others where to start from.
    public func run(base: URL, tasks: TaskSource, executor: CodeExecutor?, start: RunStart, reward: RewardScheme? = nil,
                    stopAfter: Int? = nil, progress: ([String: Double]) -> Void) async throws -> [[String: Double]] {
        try config.validate()
        let baseCheckpoint = try resolveCheckpoint(base)
        var lock: RunLock?
        var from: URL?   // the checkpoint to continue from; nil: start from the base
        if cluster.isRoot {
            let opened = try directory.open(start, what: "GRPO")
            lock = opened.lock
            from = try prepareDirectory(resume: opened.resume, baseCheckpoint: baseCheckpoint)
        }
        defer { withExtendedLifetime(lock) {} }
        let path = try cluster.broadcast(Data((from?.path ?? "").utf8))
        from = path.isEmpty ? nil : URL(fileURLWithPath: String(decoding: path, as: UTF8.self))
        let trainer = try makeTrainer(from: from, baseCheckpoint: baseCheckpoint, tasks: tasks, executor: executor,
                                      reward: reward)
        try trainer.memoryPlan.check(available: Int(ProcessInfo.processInfo.physicalMemory))
        try cluster.broadcast(trainer.policy.arena.data, count: trainer.policy.arena.count)   // one set of weights
        if cluster.isRoot { try truncateMetrics(afterStep: trainer.step) }
        let log = cluster.isRoot ? try MetricsLog(url: metricsURL, append: true) : nil
        let board = cluster.isRoot ? try TensorBoardWriter(dir: tensorBoardDir, firstStep: trainer.step + 1) : nil
        let last = min(config.steps, stopAfter ?? config.steps)   // stopAfter: simulate an interrupted run (tests)
        while trainer.step < last {
            let m = MetricNames.current(try await trainer.trainStep())
            guard cluster.isRoot else { continue }
            try log?.write(m)
            try board?.write(step: trainer.step, scalars: m.filter { $0.key != "step" })
            progress(m)
            if (config.checkpointEvery > 0 && trainer.step % config.checkpointEvery == 0) || trainer.step == config.steps {
                try directory.commitCheckpoint(step: trainer.step) { tmp in
                    try TrainCheckpoint.write(trainer.model, optimizer: trainer.optimizer, state: trainer.state, into: tmp)
                }
            }
        }
        return cluster.isRoot ? try readMetrics() : []
    }

    /// Checks a continued run against the request and writes a new run's files; returns the checkpoint to
    /// continue from (nil: start from the base).
    func prepareDirectory(resume: Bool, baseCheckpoint: URL) throws -> URL? {
        let baseID = try checkpointFingerprint(baseCheckpoint)
        if resume {
            try checkSameRun(baseID: baseID)
            if (try? String(contentsOf: directory.settingsURL, encoding: .utf8)) != config.json {   // an old flat config.json
                try directory.writeAtomically(Data(config.json.utf8), name: "config.json")
            }
            return try directory.latestCheckpoint()
        }
        try directory.writeAtomically(Data((baseID + " " + baseCheckpoint.standardizedFileURL.path + "\n").utf8), name: "base.txt")
        try directory.writeAtomically(Data(), name: "metrics.jsonl")
        if FileManager.default.fileExists(atPath: tensorBoardDir.path) { try FileManager.default.removeItem(at: tensorBoardDir) }
        try directory.writeAtomically(Data(config.json.utf8), name: "config.json")
        return nil
    }

    /// A trainer at `checkpoint` (its weights, optimizer and RNG), or at the base; the KL reference is the base.
    /// A base is a tir run, a Hugging Face directory or a GGUF file; checkpoints are Hugging Face directories
    /// with the base's tokenizer and chat template.
    func makeTrainer(from checkpoint: URL?, baseCheckpoint: URL, tasks: TaskSource, executor: CodeExecutor?,
                     reward: RewardScheme?) throws -> GRPOTrainer {
        guard let checkpoint else {
            return try GRPOTrainer(config: config, model: try LanguageModel.load(baseCheckpoint), tasks: tasks,
                                   executor: executor, reward: reward, cluster: cluster)
        }
        let model = try LanguageModel.load(checkpoint)
        let (state, m, v) = try TrainCheckpoint.loadTrainer(checkpoint, parameters: model.policy.arena.count)
        guard try GRPOConfig.load(json: Data(state.configJSON.utf8)) == config else {
            throw ConfigError("\(checkpoint.path) was written with another configuration than \(dir.path)/config.json")
        }
        let reference = config.kl.beta > 0 ? try LanguageModel.load(baseCheckpoint).policy : nil
        let trainer = try GRPOTrainer(config: config, model: model, tasks: tasks, executor: executor, reward: reward,
                                      reference: reference, cluster: cluster)
        try trainer.restore(state, m: m, v: v)
        return trainer
    }

    /// Throws what `run` would refuse (an existing run for `.new`, none for `.resume`, a run of other settings
    /// or another base when continuing), without changing anything: commands call it before slow set-up.
    public func check(_ start: RunStart, base: URL) throws {
        try directory.check(start, what: "GRPO")
        if (start == .resume || start == .resumeOrNew) && directory.hasRun {
            try checkSameRun(baseID: try checkpointFingerprint(try resolveCheckpoint(base)))
        }
    }

    /// A resumed run must be the run on disk: the same config and the same base policy.
    func checkSameRun(baseID: String) throws {
        guard let saved = try Self.savedConfig(dir) else {
            throw ConfigError("\(dir.path) has checkpoints but no config.json: not a GRPO run this version can resume")
        }
        let diff = try ConfigCoding.differences(saved, config)
        guard diff.isEmpty else {
            throw ConfigError("\(dir.path) holds a run with a different configuration (\(diff.prefix(6).joined(separator: "; ")))"
                              + ": resume it with its own settings, or use --force or another --out to start a new one")
        }
        // Runs of the old layout have no base.txt: nothing to compare.
        if let recorded = try? String(contentsOf: baseURL, encoding: .utf8),
           let id = recorded.split(separator: " ").first, String(id) != baseID {
            throw ConfigError("\(dir.path) was started from another base policy (\(recorded.trimmingCharacters(in: .whitespacesAndNewlines))): "
                              + "resume it with that base, or use --force or another --out")
        }
    }

    /// The base checkpoint a run in `dir` started from (base.txt), nil for runs of the old layout.
    public static func recordedBase(_ dir: URL) -> URL? {
        guard let text = try? String(contentsOf: dir.appendingPathComponent("base.txt"), encoding: .utf8),
              let space = text.firstIndex(of: " ") else { return nil }
        return URL(fileURLWithPath: text[text.index(after: space)...].trimmingCharacters(in: .newlines))
    }

    /// Whether this run directory started from the base with fingerprint `baseID`.
    public func startedFrom(baseID: String) -> Bool {
        (try? String(contentsOf: baseURL, encoding: .utf8))?.split(separator: " ").first.map(String.init) == baseID
    }

    public func readMetrics() throws -> [[String: Double]] { MetricsLog.read(metricsURL) }

    /// Keeps the lines of steps 1...step (a torn or later line ends the kept part) and cuts the file there.
    func truncateMetrics(afterStep step: Int) throws {
        guard let data = FileManager.default.contents(atPath: metricsURL.path) else {
            if step > 0 { throw ConfigError("\(metricsURL.path) is missing: the run's metrics up to step \(step) are lost") }
            return
        }
        var kept = 0, lines = 0, start = data.startIndex
        while lines < step, let nl = data[start...].firstIndex(of: UInt8(ascii: "\n")) {
            guard let obj = try? JSONSerialization.jsonObject(with: data[start..<nl]) as? [String: Any],
                  (obj["step"] as? NSNumber)?.intValue == lines + 1 else { break }
            lines += 1
            start = nl + 1
            kept = start - data.startIndex
        }
        guard lines == step else {
            throw ConfigError("\(metricsURL.path) has \(lines) complete lines before the checkpoint at step \(step): the metrics are damaged")
        }
        guard truncate(metricsURL.path, off_t(kept)) == 0 else {
            throw ConfigError("cannot truncate \(metricsURL.path): \(String(cString: strerror(errno)))")
        }
        let fd = open(metricsURL.path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}
