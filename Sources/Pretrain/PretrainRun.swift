import Foundation
import Model
import Training

/// A pretraining run on disk: `pretrain.json` (the settings, written first) and versioned checkpoints
/// (`RunDirectory`); the run directory stands for its current checkpoint wherever a base policy is expected.
/// Runs of the old layout (the directory itself one checkpoint) still load as a base; a finished one with
/// the same settings is reused, an unfinished one cannot be continued.
public struct PretrainRun {
    public let config: PretrainConfig
    public let dir: URL
    public var directory: RunDirectory { RunDirectory(dir, settings: "pretrain.json", keep: 2) }

    public init(config: PretrainConfig, dir: URL) {
        self.config = config
        self.dir = dir
    }

    /// The files of an old-layout run (the directory was the checkpoint).
    static let oldLayoutFiles = ["config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"]

    /// The settings and reached step of the pretraining run in `dir`, nil when there is none.
    public static func status(_ dir: URL) throws -> (config: PretrainConfig, step: Int)? {
        let run = RunDirectory(dir, settings: "pretrain.json")
        if let data = FileManager.default.contents(atPath: run.settingsURL.path) {
            let config = try decode(data, from: run.settingsURL.path)
            let step = try run.latestCheckpoint().map { try TrainCheckpoint.loadState($0).step } ?? 0
            return (config, step)
        }
        guard TrainCheckpoint.hasState(dir) else { return nil }
        let state = try TrainCheckpoint.loadState(dir)
        guard state.kind == "pretrain" else { return nil }
        return (try decode(Data(state.configJSON.utf8), from: dir.appendingPathComponent("trainer_state.json").path), state.step)
    }

    static func decode(_ data: Data, from path: String) throws -> PretrainConfig {
        do { return try JSONDecoder().decode(PretrainConfig.self, from: data) } catch {
            throw ConfigError("\(path) does not hold pretraining settings: \(error)")
        }
    }

    /// Pretrains to `config.steps`, or continues / reuses the run in `dir` (see `RunStart`). Returns the step
    /// it started from: 0 for a fresh run, `config.steps` when a finished run was reused.
    @discardableResult
    public func run(start: RunStart, progress: (PretrainProgress) -> Void) throws -> Int {
        try config.validate()
        let oldLayout = !FileManager.default.fileExists(atPath: directory.settingsURL.path) && TrainCheckpoint.hasState(dir)
        if start == .force && oldLayout {
            for f in Self.oldLayoutFiles { try? FileManager.default.removeItem(at: dir.appendingPathComponent(f)) }
        } else if oldLayout {
            return try reuseOldLayout(start)
        }
        let (lock, resume) = try directory.open(start, what: "pretraining")
        defer { withExtendedLifetime(lock) {} }
        let data = ToyData(seed: config.seed)
        let (train, heldOut) = data.pretrainingDocuments(count: config.documents, drillFraction: config.countingDrills)
        var trainer = try Pretrainer(config: config, trainDocuments: train, heldOutDocuments: heldOut)
        if resume {
            guard let (saved, _) = try Self.status(dir) else {
                throw ConfigError("\(dir.path) has checkpoints but no pretrain.json: not a pretraining run")
            }
            try checkSame(saved)
            if let checkpoint = try directory.latestCheckpoint() {
                let (policy, state, m, v) = try TrainCheckpoint.load(checkpoint)
                trainer = try Pretrainer(config: config, trainDocuments: train, heldOutDocuments: heldOut, policy: policy)
                try trainer.restore(state, m: m, v: v)
            }
        } else {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try directory.writeAtomically(try enc.encode(config), name: directory.settingsName)
        }
        let from = trainer.step
        try trainer.run(directory: directory, progress: progress)
        return from
    }

    func checkSame(_ saved: PretrainConfig) throws {
        let diff = try ConfigCoding.differences(saved, config)
        guard diff.isEmpty else {
            throw ConfigError("\(dir.path) holds a pretraining run with other settings (\(diff.prefix(6).joined(separator: "; "))): "
                              + "continue it with its own settings, or use --force or another --out to pretrain anew")
        }
    }

    func reuseOldLayout(_ start: RunStart) throws -> Int {
        guard let (saved, step) = try Self.status(dir) else {
            throw ConfigError("\(dir.path) holds a training checkpoint that is not from pretraining")
        }
        if start == .new {
            throw ConfigError("\(dir.path) already holds a pretraining run (step \(step)): pass --resume to continue it, "
                              + "--force to delete it and start over, or choose another --out")
        }
        try checkSame(saved)
        guard step >= config.steps else {
            throw ConfigError("\(dir.path) holds an unfinished pretraining run in the old single-directory layout, which "
                              + "cannot be continued: start it over with --force (it still loads as a base policy as it is)")
        }
        return step
    }
}
