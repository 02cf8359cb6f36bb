import Foundation
import GRPO
import Model
import Pretrain
import Rollout

/// The tasks of a run (`GRPOConfig.tasks`): the toy world (its train stream and held-out split), or a user's
/// JSONL file with a held-out part or a separate evaluation file. `tir train` and `tir eval` both load them
/// here, so a user's tasks go through one loader and one answer check (the reward's `AnswerCheck`).
struct RunTasks {
    var train: TaskSource
    var heldOut: [MathTask]?
    var toy: ToyData?
    var summary: String

    /// The first `n` held-out tasks.
    func evaluation(_ n: Int) throws -> [MathTask] {
        if let toy { return toy.heldOutTasks(count: n) }
        guard let heldOut, !heldOut.isEmpty else {
            throw ConfigError("no held-out tasks: set tasks.heldOutFraction > 0 or give --eval-data")
        }
        return Array(heldOut.prefix(n))
    }

    /// Loads and checks the tasks of `config`; `context` (the policy's) rejects prompts that leave no room to
    /// answer. The split of a JSONL file follows the run's seed; the toy world's tasks `toySeed` (default: the same).
    static func load(_ config: GRPOConfig, toySeed: UInt64? = nil, context: Int?) throws -> RunTasks {
        let c = config.tasks
        guard !c.data.isEmpty else {
            let toy = ToyData(seed: toySeed ?? config.seed, difficulty: c.difficulty)
            return RunTasks(train: toy.trainTasks, heldOut: nil, toy: toy, summary: "the toy world (difficulty \(c.difficulty))")
        }
        let all = try loadJSONLTasks(url(c.data))
        let train: [MathTask], heldOut: [MathTask]
        if !c.evalData.isEmpty {
            (train, heldOut) = (all, try loadJSONLTasks(url(c.evalData)))
        } else {
            (train, heldOut) = heldOutSplit(all, fraction: c.heldOutFraction, seed: config.seed)
        }
        guard !train.isEmpty else {
            throw ConfigError("\(c.data): all \(all.count) tasks are held out (tasks.heldOutFraction = \(c.heldOutFraction)); "
                                  + "lower it or give --eval-data")
        }
        if let context { try checkPrompts(train + heldOut, fit: context) }
        let held = c.evalData.isEmpty ? "\(heldOut.count) held out" : "\(heldOut.count) in \(c.evalData)"
        return RunTasks(train: ArrayTaskSource(train), heldOut: heldOut, toy: nil,
                        summary: "\(train.count) tasks from \(c.data) (\(held))")
    }

    /// Every prompt must leave room to answer in the policy's context.
    static func checkPrompts(_ tasks: [MathTask], fit context: Int) throws {
        let tok = ByteTokenizer(), format = EpisodeFormat()
        for t in tasks {
            let n = 1 + tok.encode(format.prompt(t.question)).count
            if n >= context {
                throw ConfigError("task \(t.id): its prompt is \(n) tokens, which leaves no room to answer in the policy's context of \(context)")
            }
        }
    }
}
