import Experiments
import Foundation
import GRPO
import Model
import Pretrain
import Rollout

/// The tasks of a run (`GRPOConfig.tasks`): the built-in toy world or arithmetic (each a train stream and a
/// held-out split), or a user's JSONL file with a held-out part or a separate evaluation file. `tir train` and `tir eval` both load them
/// here, so a user's tasks go through one loader and one answer check (the reward's `AnswerCheck`).
struct RunTasks {
    var train: TaskSource
    /// The first `n` held-out tasks.
    var evaluation: (_ n: Int) throws -> [MathTask]
    var summary: String

    /// Loads and checks the tasks of `config`; `model` (the policy's tokenizer, chat format and context) rejects
    /// prompts that leave no room to answer. The split of a JSONL file follows the run's seed; the toy world's
    /// tasks `toySeed` (default: the same).
    static func load(_ config: GRPOConfig, toySeed: UInt64? = nil, model: LanguageModel?) throws -> RunTasks {
        let c = config.tasks
        guard !c.data.isEmpty else {
            let builtin = BuiltinTasks(c, seed: toySeed ?? config.seed, byteLevel: model.map { $0.tokenizer is ByteTokenizer } ?? true)
            return RunTasks(train: builtin.train, evaluation: builtin.heldOut, summary: builtin.summary)
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
        if let model { try checkPrompts(train + heldOut, model: model, rollout: config.rollout) }
        let held = c.evalData.isEmpty ? "\(heldOut.count) held out" : "\(heldOut.count) in \(c.evalData)"
        return RunTasks(train: ArrayTaskSource(train), evaluation: { n in
            guard !heldOut.isEmpty else {
                throw ConfigError("no held-out tasks: set tasks.heldOutFraction > 0 or give --eval-data")
            }
            return Array(heldOut.prefix(n))
        }, summary: "\(train.count) tasks from \(c.data) (\(held))")
    }

    /// Every prompt, as the model is prompted, must leave room to answer in the policy's context.
    static func checkPrompts(_ tasks: [MathTask], model: LanguageModel, rollout: RolloutConfig) throws {
        let prompt = try PromptTemplate(model: model, config: rollout), format = EpisodeFormat()
        let context = model.policy.config.context
        for t in tasks {
            let n = (model.tokenizer.bos == nil ? 0 : 1) + model.tokenizer.encode(prompt.text(question: t.question, format: format)).count
            if n >= context {
                throw ConfigError("task \(t.id): its prompt is \(n) tokens, which leaves no room to answer in the policy's context of \(context)")
            }
        }
    }
}
