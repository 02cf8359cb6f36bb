import Foundation
import Model
import Tensor

/// Everything beyond the weights that a resumed run needs to continue exactly.
public struct TrainerState: Codable, Equatable {
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
/// transformers) plus `optimizer.safetensors` (AdamW m and v) and `trainer_state.json`. Written atomically
/// as one directory (see `Checkpoint.save`), so a kill -9 at any moment leaves the previous checkpoint intact.
public enum TrainCheckpoint {
    public static func save(_ policy: Policy, optimizer: AdamW, state: TrainerState, to dir: URL) throws {
        try Checkpoint.save(policy, to: dir) { tmp in
            let n = policy.arena.count
            try SafeTensors.write([(name: "adam.m", shape: [n], data: UnsafeBufferPointer(start: optimizer.m, count: n)),
                                   (name: "adam.v", shape: [n], data: UnsafeBufferPointer(start: optimizer.v, count: n))],
                                  to: tmp.appendingPathComponent("optimizer.safetensors"))
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try writeSynced(try enc.encode(state), to: tmp.appendingPathComponent("trainer_state.json"))
        }
    }

    public static func hasState(_ dir: URL) -> Bool {
        FileManager.default.fileExists(atPath: dir.appendingPathComponent("trainer_state.json").path)
    }

    /// Loads weights into a new policy, optimizer moments into `optimizer`-to-be, and the trainer state.
    public static func load(_ dir: URL) throws -> (policy: Policy, state: TrainerState, m: [Float], v: [Float]) {
        let policy = try Checkpoint.load(dir)
        let stateURL = dir.appendingPathComponent("trainer_state.json")
        guard let data = FileManager.default.contents(atPath: stateURL.path) else {
            throw TensorError("\(dir.path) has no trainer_state.json: not a resumable training checkpoint")
        }
        let state: TrainerState
        do { state = try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw TensorError("\(stateURL.path) is corrupted: \(error)")
        }
        let (opt, _) = try SafeTensors.read(dir.appendingPathComponent("optimizer.safetensors"))
        guard let m = opt["adam.m"]?.values, let v = opt["adam.v"]?.values,
              m.count == policy.arena.count, v.count == policy.arena.count else {
            throw TensorError("\(dir.path)/optimizer.safetensors does not match the policy's \(policy.arena.count) parameters")
        }
        return (policy, state, m, v)
    }
}
