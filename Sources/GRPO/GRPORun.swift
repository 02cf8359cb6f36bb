import Foundation
import Model
import Rollout
import Tensor
import Training

/// A GRPO run on disk: `metrics.jsonl` (one line per step, named by `MetricNames`), `tb/` (the same scalars
/// for TensorBoard), `checkpoint/` (resumable, every K steps and at the end) and `config.json`. Resuming
/// truncates metrics written after the last checkpoint, so a killed and resumed run produces the same file
/// as an uninterrupted one.
public struct GRPORun {
    public let config: GRPOConfig
    public let dir: URL
    public var checkpointDir: URL { dir.appendingPathComponent("checkpoint") }
    public var metricsURL: URL { dir.appendingPathComponent("metrics.jsonl") }
    public var tensorBoardDir: URL { dir.appendingPathComponent("tb") }

    public init(config: GRPOConfig, dir: URL) {
        self.config = config
        self.dir = dir
    }

    /// Trains from `base` (or resumes from this run's checkpoint) to `config.steps`; returns all metrics lines.
    public func run(base: URL, tasks: TaskSource, executor: CodeExecutor?, resume: Bool, reward: RewardScheme? = nil,
                    stopAfter: Int? = nil, progress: ([String: Double]) -> Void) async throws -> [[String: Double]] {
        let fm = FileManager.default
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        let trainer: GRPOTrainer
        if resume && TrainCheckpoint.hasState(checkpointDir) {
            let (policy, state, m, v) = try TrainCheckpoint.load(checkpointDir)
            guard state.configJSON == config.json else {
                throw ConfigError("\(checkpointDir.path) was written with a different configuration; use a new --out or the same settings")
            }
            trainer = try GRPOTrainer(config: config, policy: policy, tasks: tasks, executor: executor, reward: reward)
            try trainer.restore(state, m: m, v: v)
            try truncateMetrics(afterStep: state.step)
        } else {
            if fm.fileExists(atPath: metricsURL.path) {
                guard !resume else { throw ConfigError("\(dir.path) has metrics but no checkpoint to resume from") }
                try fm.removeItem(at: metricsURL)
            }
            if fm.fileExists(atPath: tensorBoardDir.path) { try fm.removeItem(at: tensorBoardDir) }
            trainer = try GRPOTrainer(config: config, policy: try Checkpoint.load(base), tasks: tasks, executor: executor,
                                      reward: reward)
        }
        try writeSynced(Data(config.json.utf8), to: dir.appendingPathComponent("config.json"))
        let log = try MetricsLog(url: metricsURL, append: true)
        let board = try TensorBoardWriter(dir: tensorBoardDir, firstStep: trainer.step + 1)
        let last = min(config.steps, stopAfter ?? config.steps)   // stopAfter: simulate an interrupted run (tests)
        while trainer.step < last {
            let m = MetricNames.current(try await trainer.trainStep())
            try log.write(m)
            try board.write(step: trainer.step, scalars: m.filter { $0.key != "step" })
            progress(m)
            if (config.checkpointEvery > 0 && trainer.step % config.checkpointEvery == 0) || trainer.step == config.steps {
                try TrainCheckpoint.save(trainer.policy, optimizer: trainer.optimizer, state: trainer.state, to: checkpointDir)
            }
        }
        return try readMetrics()
    }

    public func readMetrics() throws -> [[String: Double]] { MetricsLog.read(metricsURL) }

    func truncateMetrics(afterStep step: Int) throws {
        guard let data = FileManager.default.contents(atPath: metricsURL.path) else { return }
        let kept = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { line in
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let s = (obj["step"] as? NSNumber)?.intValue else { return false }   // a torn last line goes too
            return s <= step
        }
        try writeSynced(Data(kept.map { $0 + "\n" }.joined().utf8), to: metricsURL)
    }
}
