import Foundation
import GRPO
import Pretrain
import Rollout

/// The built-in tasks of `tasks.builtin`: the toy world for the byte-level toy policy, arithmetic in natural
/// language for a real model (`auto` chooses by the policy), each a train stream and a held-out split.
public struct BuiltinTasks {
    public var train: TaskSource
    /// The first `n` held-out tasks.
    public var heldOut: (_ n: Int) -> [MathTask]
    public var summary: String

    /// `byteLevel`: the policy reads bytes (the toy model), which `auto` gives the toy world.
    public init(_ c: TaskConfig, seed: UInt64, byteLevel: Bool) {
        if c.builtin == .toy || (c.builtin == .auto && byteLevel) {
            let toy = ToyData(seed: seed, difficulty: c.difficulty)
            train = toy.trainTasks
            heldOut = { toy.heldOutTasks(count: $0) }
            summary = "the toy world (difficulty \(c.difficulty))"
        } else {
            let arithmetic = ArithmeticTasks(seed: seed, difficulty: c.difficulty)
            train = arithmetic.train
            heldOut = { arithmetic.heldOut(count: $0) }
            summary = "built-in arithmetic (difficulty \(c.difficulty))"
        }
    }
}
