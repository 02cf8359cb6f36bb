import XCTest
import Model
import Rollout
import Tensor
@testable import GRPO

/// A group's samples computed with their shared prompt once (`appendSharingPrefix`) against each padded on
/// its own (`append`): the same log-prob for every token, the same loss and parameter gradient.
final class PrefixSharingTests: XCTestCase {
    /// Three samples of one prompt (6 tokens), responses of different lengths and tokens, one with a tool
    /// observation between two policy runs.
    private func group() -> [Trajectory] {
        let prompt = [TokenRole](repeating: .prompt, count: 6)
        let shapes: [[TokenRole]] = [
            prompt + [TokenRole](repeating: .policy, count: 9),
            prompt + [TokenRole](repeating: .policy, count: 3) + [TokenRole](repeating: .tool, count: 4)
                + [TokenRole](repeating: .policy, count: 5),
            prompt + [TokenRole](repeating: .policy, count: 2),
        ]
        return shapes.enumerated().map { k, roles in
            var t = makeTrajectory(group: 0, roles: roles, reward: Float(k % 2), vocab: 11)
            for j in 6..<roles.count { t.tokens[j] = Int32((j * 5 + k * 3) % 11) }   // responses differ
            t.samplingLogProbs = randomFloats(roles.count, seed: UInt64(k), lo: -3, hi: -0.5)
            return t
        }
    }

    func testSharedPromptGivesTheSameLogProbsLossAndGradient() throws {
        let ts = group()
        let masks = try ts.map { try lossMask($0, keep: true) }
        let advantages: [Float] = [0.9, -0.4, -0.5]
        var padded = PolicyLossBatch(), shared = PolicyLossBatch()
        let width = ts.map { $0.tokens.count - 1 }.max()!
        for k in ts.indices { try padded.append(ts[k], tokenMask: masks[k], advantage: advantages[k], rows: width) }
        let s = PolicyLossBatch.sharedPrefixRows(ts.indices.map { (ts[$0].tokens, masks[$0]) })
        XCTAssertEqual(s, 5, "rows 0..<5 predict prompt tokens 1...5; row 5 predicts the first response token")
        try shared.appendSharingPrefix(ts.indices.map { (ts[$0], masks[$0], advantages[$0], ts[$0].samplingLogProbs) },
                                       shared: s)
        XCTAssertEqual(shared.count, s + ts.reduce(0) { $0 + $1.tokens.count - 1 - s })
        var tooMany = PolicyLossBatch()
        XCTAssertThrowsError(try tooMany.appendSharingPrefix(
            ts.indices.map { (ts[$0], masks[$0], advantages[$0], ts[$0].samplingLogProbs) }, shared: s + 1))

        let config = PolicyConfig(vocab: 11, dim: 16, layers: 2, heads: 4, kvHeads: 2, ffn: 24, context: 32, qkvBias: true)
        let loss = PolicyLossConfig()
        let normalizer = try lossNormalizer(loss, batches: [padded])
        var results: [(logProbs: [Float], loss: Float, grad: [Float])] = []
        for (b, layout) in [(padded, AttentionLayout(batch: ts.count, seqLen: width)), (shared, shared.attentionLayout)] {
            let policy = try Policy(config: config, seed: 4)
            let lp = try policy.tokenLogProbs(tokens: b.inputs, targets: b.targets, layout: layout)
            let (l, _) = try policyLoss(lp, batch: b, config: loss, normalizer: normalizer)
            try l.backward()
            results.append((lp.array, l.item(), Array(UnsafeBufferPointer(start: policy.arena.grad, count: policy.arena.count))))
        }
        for k in ts.indices {
            for j in 0..<(ts[k].tokens.count - 1) {
                XCTAssertEqual(results[0].logProbs[padded.row(sequence: k, predicting: j)],
                               results[1].logProbs[shared.row(sequence: k, predicting: j)], accuracy: 1e-5, "sample \(k), row \(j)")
            }
        }
        XCTAssertEqual(results[0].loss, results[1].loss, accuracy: 1e-6)
        let scale = results[0].grad.map(abs).max()!
        XCTAssertGreaterThan(scale, 0)
        for (a, b) in zip(results[0].grad, results[1].grad) { XCTAssertEqual(a, b, accuracy: 1e-5 * scale) }
    }

    func testSharedRowsStopAtTheFirstDifferenceOrLossToken() {
        let a: [Int32] = [1, 2, 3, 4, 5, 6], b: [Int32] = [1, 2, 3, 9, 5, 6]
        let none: [Float] = [0, 0, 0, 0, 0, 0], fromThree: [Float] = [0, 0, 0, 1, 1, 1]
        XCTAssertEqual(PolicyLossBatch.sharedPrefixRows([(a, none), (b, none)]), 2, "token 3 differs: rows 0, 1")
        XCTAssertEqual(PolicyLossBatch.sharedPrefixRows([(a, fromThree), (a, none)]), 2, "row 2 predicts a loss token")
        XCTAssertEqual(PolicyLossBatch.sharedPrefixRows([(a, none), (a, none)]), 4, "each keeps one row of its own")
        XCTAssertEqual(PolicyLossBatch.sharedPrefixRows([(Array(a.prefix(2)), [0, 0]), (a, none)]), 0)
    }

    /// The trainer's micro-batches keep a group together and count its prompt once against the token cap.
    func testMicroBatchesCountASharedPromptOnce() throws {
        var c = GRPOConfig()
        c.promptsPerStep = 2; c.groupSize = 3; c.microBatch = 8; c.microBatchTokens = 30
        let policy = try Policy(config: PolicyConfig(vocab: 11, dim: 8, layers: 1, heads: 2, ffn: 8, context: 64), seed: 1)
        let trainer = try GRPOTrainer(config: c, policy: policy, tasks: ArrayTaskSource([]), executor: nil)
        var ts = group()                                  // 14 + 17 + 7 = 38 rows alone, 5 shared + 9 + 12 + 2 = 28
        ts += group().map { var t = $0; t.group = 1; t.tokens[0] = 7; return t }
        let p = try trainer.prepare(ts)
        let batches = trainer.microBatches(Array(ts.indices), p)
        XCTAssertEqual(batches, [[1, 0, 2], [4, 3, 5]], "one group per micro-batch, longest first")
        for ids in batches {
            let b = try trainer.pack(ids, p)
            XCTAssertEqual(b.count, 28)
            XCTAssertEqual(b.sequences.count, ids.count)
        }
    }
}
