import XCTest
import Rollout
import Tensor
@testable import GRPO

/// The heart of the project (docs/DESIGN.md): only policy tokens of surviving trajectories carry gradient.
/// 2 groups x 2 trajectories, roles prompt/policy/tool, one trajectory with a void turn, then
/// logits -> gatherLogProbs -> policyLoss -> backward, checked row by row.
final class MaskingCoreTests: XCTestCase {
    let vocab = 7
    let P = TokenRole.prompt, A = TokenRole.policy, T = TokenRole.tool

    func trajectories() -> [Trajectory] {
        [
            // group 0: a two-turn tool trajectory (correct) and a void-turn trajectory (wrong)
            makeTrajectory(group: 0, roles: [P, P, A, A, T, T, A, A], reward: 1, vocab: vocab, offset: 0),
            makeTrajectory(group: 0, roles: [P, P, A, A, A], reward: -1, void: true, vocab: vocab, offset: 1),
            // group 1: tool use (correct) and a direct answer (wrong)
            makeTrajectory(group: 1, roles: [P, P, P, A, T, A, A], reward: 1, vocab: vocab, offset: 2),
            makeTrajectory(group: 1, roles: [P, P, P, A, A, A], reward: -1, vocab: vocab, offset: 3),
        ]
    }

    struct Packed {
        var batch = PolicyLossBatch()
        var targetRole: [TokenRole] = []   // role of each row's target token
        var owner: [Int] = []              // trajectory of each row
    }

    func pack(_ ts: [Trajectory], keep: [Bool], advantages: [Float], maskToolTokens: Bool = true) throws -> Packed {
        var p = Packed()
        for (k, t) in ts.enumerated() {
            try p.batch.append(t, tokenMask: lossMask(t, keep: keep[k], maskToolTokens: maskToolTokens),
                               advantage: advantages[k])
            p.targetRole += t.roles[1...]
            p.owner += repeatElement(k, count: t.tokens.count - 1)
        }
        return p
    }

    /// Logits gradient [N, V] after gatherLogProbs -> policyLoss -> backward. Old log-probs are the
    /// current ones shifted by a small deterministic amount, so every ratio is inside the clip range.
    func logitsGradient(_ p: Packed, config: PolicyLossConfig = PolicyLossConfig()) throws -> (grad: [Float], n: Int) {
        var batch = p.batch
        let n = batch.count
        let logits = try Tensor(shape: [n, vocab], randomFloats(n * vocab, seed: 11, lo: -2, hi: 2), requiresGrad: true)
        let current = try noGrad { try gatherLogProbs(logits, targets: batch.targets) }.array
        let shift = randomFloats(n, seed: 5, lo: -0.05, hi: 0.05)
        batch.oldLogProbs = zip(current, shift).map { $0 - $1 }
        let norm = try lossNormalizer(config, batches: [batch])
        let lp = try gatherLogProbs(logits, targets: batch.targets)
        let (loss, stats) = try policyLoss(lp, batch: batch, config: config, normalizer: norm)
        XCTAssertEqual(stats.clippedLow + stats.clippedHigh + stats.dualClipped, 0)
        try loss.backward()
        return (logits.gradArray!, n)
    }

    func rowIsZero(_ g: [Float], _ i: Int) -> Bool { (0..<vocab).allSatisfy { g[i * vocab + $0] == 0 } }
    func rowIsNonZero(_ g: [Float], _ i: Int) -> Bool { (0..<vocab).allSatisfy { g[i * vocab + $0] != 0 } }

    func testOnlyKeptPolicyTokensCarryGradient() throws {
        let ts = trajectories()
        let rewards = ts.map(\.reward)
        let adv = try groupAdvantages(rewards: rewards, groupSize: 2, estimator: .grpo)
        let (keep, droppedVoid, droppedTruncated) = applyFilters(ts, TrajectoryFilter())
        XCTAssertEqual(keep, [true, false, true, true])
        XCTAssertEqual(droppedVoid, 1)
        XCTAssertEqual(droppedTruncated, 0)

        let p = try pack(ts, keep: keep, advantages: adv)
        XCTAssertEqual(p.batch.count, 7 + 4 + 6 + 5)
        let (g, n) = try logitsGradient(p)
        var checkedZero = 0, checkedNonZero = 0
        for i in 0..<n {
            if p.owner[i] == 1 || p.targetRole[i] != .policy {
                XCTAssert(rowIsZero(g, i), "row \(i) (trajectory \(p.owner[i]), target \(p.targetRole[i])) has gradient")
                checkedZero += 1
            } else {
                XCTAssert(rowIsNonZero(g, i), "kept policy row \(i) has a zero logits gradient")
                checkedNonZero += 1
            }
        }
        // zero rows: prompt targets 1 + 2 + 2, tool targets 2 + 1, the void trajectory's 4 rows
        XCTAssertEqual(checkedZero, 12)
        XCTAssertEqual(checkedNonZero, 10)
    }

    /// The void trajectory is filtered from the loss but still counts in its group's statistics: the
    /// group's advantages are those of rewards [1, -1] computed by hand, not of the survivor alone.
    func testVoidTrajectoryKeepsItsGroupStatistics() throws {
        let ts = trajectories()
        let (keep, _, _) = applyFilters(ts, TrajectoryFilter())
        XCTAssertFalse(keep[1])
        let adv = try groupAdvantages(rewards: ts.map(\.reward), groupSize: 2, estimator: .grpo)
        // group 0 = [1, -1]: mean 0, unbiased std sqrt(2)
        let a = Float(1 / (2.0.squareRoot() + 1e-6))
        XCTAssertEqual(adv[0], a)
        XCTAssertEqual(adv[1], -a)
        let unfiltered = try groupAdvantages(rewards: [1, -1, 1, -1], groupSize: 2, estimator: .grpo)
        XCTAssertEqual(Array(adv[0..<2]), Array(unfiltered[0..<2]))
        // Filtering must not touch rewards.
        XCTAssertEqual(ts.map(\.reward), [1, -1, 1, -1])
    }

    /// Controls that show the test above can fail: without the filter the void rows get gradient, and with
    /// the tool-token ablation the tool rows do.
    func testControlsUnfilteredAndToolAblation() throws {
        let ts = trajectories()
        let adv = try groupAdvantages(rewards: ts.map(\.reward), groupSize: 2, estimator: .grpo)
        let keepAll = [true, true, true, true]
        let p = try pack(ts, keep: keepAll, advantages: adv)
        let (g, n) = try logitsGradient(p)
        for i in 0..<n where p.owner[i] == 1 && p.targetRole[i] == .policy {
            XCTAssert(rowIsNonZero(g, i), "unfiltered void-trajectory policy row \(i) should carry gradient")
        }
        let q = try pack(ts, keep: [true, false, true, true], advantages: adv, maskToolTokens: false)
        let (g2, n2) = try logitsGradient(q)
        var toolRows = 0
        for i in 0..<n2 {
            if q.owner[i] != 1 && q.targetRole[i] == .tool { XCTAssert(rowIsNonZero(g2, i)); toolRows += 1 }
            if q.targetRole[i] == .prompt || q.owner[i] == 1 { XCTAssert(rowIsZero(g2, i)) }
        }
        XCTAssertEqual(toolRows, 3)
    }

    func testLossMaskAndFilters() throws {
        let ts = trajectories()
        XCTAssertEqual(try lossMask(ts[0], keep: true), [0, 0, 1, 1, 0, 0, 1, 1])
        XCTAssertEqual(try lossMask(ts[0], keep: true, maskToolTokens: false), [0, 0, 1, 1, 1, 1, 1, 1])
        XCTAssertEqual(try lossMask(ts[0], keep: false, maskToolTokens: false), [0, 0, 0, 0, 0, 0, 0, 0])
        var bad = ts[0]; bad.roles.removeLast()
        XCTAssertThrowsError(try lossMask(bad, keep: true))

        var cut = makeTrajectory(group: 2, roles: [P, A, A], reward: 0, finish: .tokenLimit)
        cut.taskId = "cut"
        let cutAndVoid = makeTrajectory(group: 2, roles: [P, A, A], reward: 0, void: true)
        var both = cutAndVoid; both.finish = .tokenLimit
        let all = ts + [cut, both]
        var r = applyFilters(all, TrajectoryFilter(voidTurns: true, truncated: true))
        XCTAssertEqual(r.keep, [true, false, true, true, false, false])
        XCTAssertEqual(r.droppedVoid, 2)        // counted once, under the void filter
        XCTAssertEqual(r.droppedTruncated, 1)
        r = applyFilters(all, TrajectoryFilter(voidTurns: false, truncated: true))
        XCTAssertEqual(r.keep, [true, true, true, true, false, false])
        XCTAssertEqual(r.droppedVoid, 0)
        XCTAssertEqual(r.droppedTruncated, 2)
        r = applyFilters(all, TrajectoryFilter(voidTurns: false, truncated: false))
        XCTAssertEqual(r.keep, [Bool](repeating: true, count: 6))
    }

    func testAppendAlignsRowsWithNextToken() throws {
        var t = makeTrajectory(group: 0, roles: [P, P, A, T, A], reward: 1)
        t.samplingLogProbs = [0, 0, -0.5, 0, -1.5]
        var b = PolicyLossBatch()
        try b.append(t, tokenMask: lossMask(t, keep: true), advantage: 0.25)
        try b.append(t, tokenMask: lossMask(t, keep: true), advantage: -1)
        XCTAssertEqual(b.targets, Array(t.tokens[1...]) + Array(t.tokens[1...]))
        XCTAssertEqual(b.mask, [0, 1, 0, 1, 0, 1, 0, 1])
        XCTAssertEqual(b.oldLogProbs, [0, -0.5, 0, -1.5, 0, -0.5, 0, -1.5])
        XCTAssertEqual(b.advantages, [0.25, 0.25, 0.25, 0.25, -1, -1, -1, -1])
        XCTAssertEqual(b.sequences, [0..<4, 4..<8])
        XCTAssertNoThrow(try b.validate(rows: 8))
        let short = makeTrajectory(group: 0, roles: [A], reward: 0)
        XCTAssertThrowsError(try b.append(short, tokenMask: [1], advantage: 0))
        XCTAssertThrowsError(try b.append(t, tokenMask: [1, 1], advantage: 0))
    }
}
