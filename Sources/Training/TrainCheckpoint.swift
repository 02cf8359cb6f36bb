import Foundation
import Model
import Tensor

/// Everything beyond the weights that a resumed run needs to continue exactly.
public struct TrainerState: Codable, Equatable, Sendable {
    public var step: Int
    public var optimizerStep: Int
    public var rngState: [UInt64]
    public var kind: String          // "pretrain" or "grpo"
    public var configJSON: String    // the run's configuration, to refuse resuming a different run

    public init(step: Int, optimizerStep: Int, rngState: [UInt64], kind: String, configJSON: String) {
        self.step = step; self.optimizerStep = optimizerStep; self.rngState = rngState
        self.kind = kind; self.configJSON = configJSON
    }
}

/// A training checkpoint: the policy checkpoint directory (config.json + model.safetensors, loadable by
/// transformers) plus `optimizer.safetensors` (AdamW m and v) and `trainer_state.json`. A run writes each one
/// into a fresh directory and then makes it current (`RunDirectory.commitCheckpoint`).
public enum TrainCheckpoint {
    /// Writes every file into the existing directory `dir`, each fsynced.
    public static func write(_ policy: Policy, optimizer: AdamW, state: TrainerState, into dir: URL) throws {
        try write(LanguageModel(toy: policy), optimizer: optimizer, state: state, into: dir)
    }

    /// The same for a model with a tokenizer of its own: the checkpoint is a complete Hugging Face directory
    /// (tokenizer and chat template included), loadable by `LanguageModel.load` and by transformers.
    public static func write(_ model: LanguageModel, optimizer: AdamW, state: TrainerState, into dir: URL) throws {
        let policy = model.policy
        try Checkpoint.write(policy, into: dir, special: model.special)
        try ModelExport.writeTokenizerFiles(model, into: dir)
        let n = policy.arena.count
        try SafeTensors.write([(name: "adam.m", shape: [n], data: UnsafeBufferPointer(start: optimizer.m, count: n)),
                               (name: "adam.v", shape: [n], data: UnsafeBufferPointer(start: optimizer.v, count: n))],
                              to: dir.appendingPathComponent("optimizer.safetensors"))
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeSynced(try enc.encode(state), to: dir.appendingPathComponent("trainer_state.json"))
    }

    public static func hasState(_ dir: URL) -> Bool {
        FileManager.default.fileExists(atPath: dir.appendingPathComponent("trainer_state.json").path)
    }

    /// The trainer state alone (cheap: no weights).
    public static func loadState(_ dir: URL) throws -> TrainerState {
        let stateURL = dir.appendingPathComponent("trainer_state.json")
        guard let data = FileManager.default.contents(atPath: stateURL.path) else {
            throw TensorError("\(dir.path) has no trainer_state.json: not a resumable training checkpoint")
        }
        do { return try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw TensorError("\(stateURL.path) is corrupted: \(error)")
        }
    }

    /// Loads weights into a new policy, the optimizer moments and the trainer state. Weights must be finite
    /// with the shapes their config implies (`Checkpoint.load`); moments finite, one per parameter, v >= 0.
    public static func load(_ dir: URL) throws -> (policy: Policy, state: TrainerState, m: [Float], v: [Float]) {
        let policy = try Checkpoint.load(dir)
        let (state, m, v) = try loadTrainer(dir, parameters: policy.arena.count)
        return (policy, state, m, v)
    }

    /// The trainer state and the optimizer moments of a checkpoint whose policy has `parameters` parameters.
    public static func loadTrainer(_ dir: URL, parameters: Int) throws -> (state: TrainerState, m: [Float], v: [Float]) {
        let state = try loadState(dir)
        let (opt, _) = try SafeTensors.read(dir.appendingPathComponent("optimizer.safetensors"))
        guard let m = opt["adam.m"]?.values, let v = opt["adam.v"]?.values,
              m.count == parameters, v.count == parameters else {
            throw TensorError("\(dir.path)/optimizer.safetensors does not match the policy's \(parameters) parameters")
        }
        guard m.allSatisfy(\.isFinite), v.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw TensorError("\(dir.path)/optimizer.safetensors holds non-finite (or negative second) moments: "
                              + "the run that wrote it diverged; use an earlier checkpoint")
        }
        return (state, m, v)
    }
}
