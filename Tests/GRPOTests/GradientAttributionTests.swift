import XCTest
import Rollout
import Tensor
@testable import GRPO

final class GradientAttributionTests: XCTestCase {
    /// Logits [0, ln 2, ln 5] -> p = (1/8, 2/8, 5/8). Target 2: (1 - 5/8)^2 + (1/8)^2 + (2/8)^2 = 14/64;
    /// target 0: 1 - 2/8 + (1 + 4 + 25)/64 = 78/64. Masked rows get 0.
    func testFactorByHand() throws {
        let row: [Float] = [0, Float(log(2.0)), Float(log(5.0))]
        let logits = row + row + row
        let f = try logits.withUnsafeBufferPointer {
            try logitGradientFactors(logits: $0.baseAddress!, rows: 3, vocab: 3, targets: [2, 0, 1], mask: [1, 1, 0])
        }
        XCTAssertEqual(f[0], 14 / 64, accuracy: 1e-6)
        XCTAssertEqual(f[1], 78 / 64, accuracy: 1e-6)
        XCTAssertEqual(f[2], 0)
        // Near-deterministic row: p_t = 1 - 1e-6 spread over 2 others -> about (1e-6)^2 + 2 (5e-7)^2, not rounding noise.
        let eps = 1e-6
        let sharp: [Float] = [0, Float(log(eps / 2)), Float(log(eps / 2))].map { $0 - Float(log(1 - eps)) }
        let g = try sharp.withUnsafeBufferPointer {
            try logitGradientFactors(logits: $0.baseAddress!, rows: 1, vocab: 3, targets: [0], mask: [1])
        }
        XCTAssertEqual(Double(g[0]), eps * eps * 1.5, accuracy: eps * eps * 0.05)
        XCTAssertThrowsError(try [Float](repeating: 0, count: 3).withUnsafeBufferPointer {
            try logitGradientFactors(logits: $0.baseAddress!, rows: 1, vocab: 3, targets: [3], mask: [1])
        })
    }

    /// The factor is the squared norm of d log p_t / d logits from the real backward, and the attributed
    /// masses of a policy-loss call sum to the squared norm of the whole logits gradient (clipped rows: 0).
    func testAttributionSumsToTheLogitsGradient() throws {
        let n = 8, v = 11
        let logits = try Tensor(shape: [n, v], randomFloats(n * v, seed: 7, lo: -3, hi: 3), requiresGrad: true)
        let targets: [Int32] = (0..<n).map { Int32(($0 * 5) % v) }
        let mask: [Float] = [1, 1, 1, 0, 1, 1, 1, 1]
        let current = try noGrad { try gatherLogProbs(logits, targets: targets) }.array
        // Row 1 is far off-policy with A < 0 (clipped low); row 5 has A > 0 and ratio 2 (clipped high).
        var old = current
        old[1] += 1; old[5] -= Float(log(2.0))
        var batch = PolicyLossBatch(oldLogProbs: old, advantages: [1, -1, 0.5, 1, -2, 1, -1, 1], mask: mask,
                                    sequences: [0..<4, 4..<8], targets: targets)
        batch.behaviourLogProbs = [-0.1, -1, -3, -8, -0.1, -9, -0.5, -2]
        batch.places = [.other, .afterTool, .void, .other, .tool, .afterTool, .other, .other]
        let cfg = PolicyLossConfig()
        let lp = try gatherLogProbs(logits, targets: targets)
        let (loss, stats, terms) = try policyLossWithTerms(lp, batch: batch, config: cfg, normalizer: 7)
        XCTAssertEqual(stats.clippedLow, 1); XCTAssertEqual(stats.clippedHigh, 1)
        XCTAssertEqual(terms.clip[1], .low); XCTAssertEqual(terms.clip[5], .high)
        try loss.backward()
        let g = logits.gradArray!
        let factors = try logitGradientFactors(logits: logits.data, rows: n, vocab: v, targets: targets, mask: mask)
        var a = GradientAttribution()
        try a.add(factors: factors, terms: terms, batch: batch)
        var gradSq = 0.0
        for i in 0..<n {
            let rowSq = (0..<v).reduce(0.0) { $0 + Double(g[i * v + $1]) * Double(g[i * v + $1]) }
            gradSq += rowSq
            if mask[i] != 0 && terms.clip[i] == .none {
                let c = Double(terms.coefficients[i])
                XCTAssertEqual(rowSq, Double(factors[i]) * c * c, accuracy: 1e-6 * max(1e-6, rowSq), "row \(i)")
            }
        }
        XCTAssertEqual(a.total, gradSq, accuracy: 1e-6 * gradSq)
        XCTAssertEqual(a.byProbability.reduce(0, +), a.total, accuracy: 1e-12)
        XCTAssertEqual(a.byPlace.reduce(0, +), a.total, accuracy: 1e-12)
        XCTAssertEqual(a.byAdvantageSign.reduce(0, +), a.total, accuracy: 1e-12)
        // Buckets by sampling probability: rows 0,4 >= 0.5; 6 (0.61) too; 1 (0.37), 7 (0.14) in [0.1, 0.5);
        // 2 (0.05) in [1e-3, 0.1); 3 masked; 5 (1e-4) < 1e-3 but clipped: the low bucket holds 0.
        func mass(_ rows: [Int]) -> Double { rows.reduce(0.0) { $0 + Double(factors[$1]) * pow(Double(terms.coefficients[$1]), 2) } }
        XCTAssertEqual(a.byProbability[0], mass([0, 4, 6]), accuracy: 1e-12)
        XCTAssertEqual(a.byProbability[1], mass([7]), accuracy: 1e-12)
        XCTAssertEqual(a.byProbability[2], mass([2]), accuracy: 1e-12)
        XCTAssertEqual(a.byProbability[3], 0)
        XCTAssertEqual(a.lowTokens, 1)
        XCTAssertEqual(a.tokens, 7)
        XCTAssertEqual(a.byPlace[Int(TokenPlace.tool.rawValue)], mass([4]), accuracy: 1e-12)
        XCTAssertEqual(a.byAdvantageSign[1], mass([4, 6]), accuracy: 1e-12)
        XCTAssertGreaterThan(a.clipped, 0)
        XCTAssertEqual(a.metrics["tir/lowprob_grad_share"], 0)
    }

    func testTokenPlaces() {
        let P = TokenRole.prompt, A = TokenRole.policy, T = TokenRole.tool
        var t = makeTrajectory(group: 0, roles: [P, A, A, T, T, A, A, A, A, A, A], reward: 1)
        XCTAssertEqual(tokenPlaces(t), [.other, .other, .other, .tool, .tool, .afterTool, .afterTool, .afterTool, .afterTool, .other, .other])
        t.turns[t.turns.count - 1].isVoid = true
        XCTAssertEqual(tokenPlaces(t).suffix(6), [.afterTool, .afterTool, .afterTool, .afterTool, .void, .void])
    }
}

/// Truncated and masked importance sampling against the sampler's log-probs, by hand.
final class ImportanceCorrectionTests: XCTestCase {
    /// Three loss rows, A = [1, 1, -1], current = old (ratio 1, never clipped), rho = exp(old - behaviour)
    /// = [3, 1.5, 0.25], one masked row. token-mean over 3 rows: loss = -sum(w_i A_i) / 3.
    func check(_ mode: ImportanceCorrection, weights: [Float]) throws {
        let old: [Float] = [-1, -0.5, -2, -1]
        let behaviour: [Float] = [-1 - Float(log(3.0)), -0.5 - Float(log(1.5)), -2 + Float(log(4.0)), -7]
        var b = PolicyLossBatch(oldLogProbs: old, advantages: [1, 1, -1, 1], mask: [1, 1, 1, 0], sequences: [0..<4])
        b.behaviourLogProbs = behaviour
        let stats = applyImportanceCorrection(&b, ImportanceCorrectionConfig(mode: mode))
        for (w, e) in zip(b.isWeights.prefix(3), weights) { XCTAssertEqual(w, e, accuracy: 1e-5, "\(mode)") }
        let (loss, grad, _) = try lossAndGrad(old, b, PolicyLossConfig(), normalizer: 3)
        let a: [Double] = [1, 1, -1]
        assertClose(loss, -zip(weights, a).reduce(0.0) { $0 + Double($1.0) * $1.1 } / 3, "\(mode) loss")
        for i in 0..<3 { assertClose(Double(grad[i]), -Double(weights[i]) * a[i] / 3, "\(mode) grad \(i)") }
        XCTAssertEqual(grad[3], 0)
        XCTAssertEqual(stats.rows, 3)
        assertClose(stats.metrics["rollout_corr/rollout_is_mean"]!, Double(weights.reduce(0, +)) / 3, "\(mode) mean")
    }

    func testTISAndMISByHand() throws {
        try check(.tis, weights: [2, 1.5, 0.25])      // min(rho, 2)
        try check(.mis, weights: [0, 1.5, 0])         // rho inside [0.5, 2], else dropped
        var b = PolicyLossBatch(oldLogProbs: [-1], advantages: [1], mask: [1], sequences: [0..<1])
        b.behaviourLogProbs = [-3]
        XCTAssertEqual(applyImportanceCorrection(&b, ImportanceCorrectionConfig(mode: .none)), ImportanceStats())
        XCTAssertTrue(b.isWeights.isEmpty)
    }

    /// Sampler = trainer: rho is exactly 1, so TIS and MIS leave loss and gradient exactly as without them.
    func testOnPolicyTheCorrectionsChangeNothing() throws {
        let lp = randomFloats(12, seed: 3, lo: -4, hi: -0.1)
        var b = PolicyLossBatch(oldLogProbs: lp, advantages: randomFloats(12, seed: 4), mask: [Float](repeating: 1, count: 12),
                                sequences: [0..<6, 6..<12])
        b.behaviourLogProbs = lp
        let plain = try lossAndGrad(lp, b, PolicyLossConfig(), normalizer: 12)
        for mode in [ImportanceCorrection.tis, .mis] {
            var c = b
            let stats = applyImportanceCorrection(&c, ImportanceCorrectionConfig(mode: mode))
            XCTAssertEqual(c.isWeights, [Float](repeating: 1, count: 12))
            XCTAssertEqual(stats.metrics["rollout_corr/kl"], 0)
            let corrected = try lossAndGrad(lp, c, PolicyLossConfig(), normalizer: 12)
            XCTAssertEqual(corrected.loss, plain.loss)
            XCTAssertEqual(corrected.grad, plain.grad)
        }
    }

    func testMismatchMetrics() {
        var m = ProbabilityMismatch()
        m.add(rollout: [log(0.5), log(0.2), log(0.9), 0], trainer: [log(0.4), log(0.3), log(0.9), -5], mask: [1, 1, 1, 0])
        let x = m.metrics
        XCTAssertEqual(x["training/rollout_probs_diff_mean"]!, 0.2 / 3, accuracy: 1e-6)
        XCTAssertEqual(x["training/rollout_probs_diff_max"]!, 0.1, accuracy: 1e-6)
        // Pearson of (0.5, 0.2, 0.9) and (0.4, 0.3, 0.9) by hand: 0.21667 / sqrt(0.24667 * 0.20667) = 0.95963
        XCTAssertEqual(x["training/rollout_actor_probs_pearson_corr"]!, 0.95963, accuracy: 1e-4)
        XCTAssertTrue(ProbabilityMismatch().metrics.isEmpty)
    }
}
