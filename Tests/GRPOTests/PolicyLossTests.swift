import XCTest
import Tensor
@testable import GRPO

final class PolicyLossTests: XCTestCase {
    // A mini-batch of 4 sequences covering every branch (values chosen by hand, see comments).
    //  row  logp   old    A     mask  branch (default config: 0.8 / 1.28 / c = 3)
    let lp: [Float] = [-1.0, -2.0, -0.5, -0.2,   -0.3, -1.2, -0.1, -1.0,   -1, -1,   -0.1, -0.7]
    let old: [Float] = [-1.1, -1.9, -0.5, -0.6,  -0.2, -1.5, -0.6, -0.7,   -2, -2,   -1.3, -0.7]
    let adv: [Float] = [0.5, 0.5, 0.5, 0.5,      -1, -1, -1, -1,           2, 2,     -0.5, -0.5]
    let mask: [Float] = [1, 1, 0, 1,             1, 1, 1, 1,               0, 0,     1, 1]
    let seqs = [0..<4, 4..<8, 8..<10, 10..<12]

    var batch: PolicyLossBatch {
        PolicyLossBatch(oldLogProbs: old, advantages: adv, mask: mask, sequences: seqs)
    }

    func testEachAggregationMatchesHandComputedLoss() throws {
        // Per-token losses, written out in Double:
        let l0 = -0.5 * exp(0.1)     // ratio 1.105: inside
        let l1 = -0.5 * exp(-0.1)    // inside
        let l3 = -0.5 * 1.28         // ratio exp(0.4) = 1.49 > 1.28, A > 0: clipped high
        let l4 = exp(-0.1)           // A = -1, inside
        let l5 = exp(0.3)            // ratio 1.35 > 1.28 but A < 0: unclipped (pessimistic max)
        let l6 = exp(0.5)            // ratio 1.65, A < 0: unclipped, below c = 3
        let l7 = 0.8                 // ratio exp(-0.3) = 0.74 < 0.8, A < 0: clipped low
        let l10 = 0.5 * 3.0          // ratio exp(1.2) = 3.32 > c, A < 0: dual-clipped at -c*A
        let l11 = 0.5 * 1.0          // ratio 1
        let s0 = l0 + l1 + l3, s1 = l4 + l5 + l6 + l7, s3 = l10 + l11
        // d loss_i / d logp_i (0 where masked or clipped)
        let dl: [Double] = [-0.5 * exp(0.1), -0.5 * exp(-0.1), 0, 0, exp(-0.1), exp(0.3), exp(0.5), 0, 0, 0, 0, 0.5]
        let seqTokens: [Double] = [3, 3, 3, 3, 4, 4, 4, 4, 0, 0, 2, 2]

        let cases: [(LossAggregation, Double, Float, (Int) -> Double)] = [
            (.tokenMean, (s0 + s1 + s3) / 9, 9, { _ in 1.0 / 9 }),
            (.seqMeanTokenMean, (s0 / 3 + s1 / 4 + s3 / 2) / 3, 3, { i in 1 / (seqTokens[i] * 3) }),
            (.seqMeanTokenSum, (s0 + s1 + s3) / 3, 3, { _ in 1.0 / 3 }),
            (.drGRPO, (s0 + s1 + s3) / 16, 16, { _ in 1.0 / 16 }),
        ]
        for (mode, expected, expectedNorm, weight) in cases {
            let config = PolicyLossConfig(aggregation: mode, drGRPONormalizer: 16)
            let norm = try lossNormalizer(config, mask: mask, sequences: seqs)
            XCTAssertEqual(norm, expectedNorm, "\(mode)")
            let (loss, grad, stats) = try lossAndGrad(lp, batch, config, normalizer: norm)
            assertClose(loss, expected, "\(mode) loss")
            for i in 0..<lp.count {
                if dl[i] == 0 {
                    XCTAssertEqual(grad[i], 0, "\(mode) row \(i) must have exactly zero gradient")
                } else {
                    assertClose(Double(grad[i]), dl[i] * weight(i), "\(mode) grad row \(i)")
                }
            }
            XCTAssertEqual(stats.maskedTokens, 9)
            XCTAssertEqual(stats.sequences, 3)
            XCTAssertEqual(stats.clippedHigh, 1)
            XCTAssertEqual(stats.clippedLow, 1)
            XCTAssertEqual(stats.dualClipped, 1)
            assertClose(stats.clipFrac, 2.0 / 9, "clipFrac")
            assertClose(stats.dualClipFrac, 1.0 / 9, "dualClipFrac")
        }
    }

    func testKLStatistics() throws {
        let (_, _, stats) = try lossAndGrad(lp, batch, PolicyLossConfig(), normalizer: 9)
        var k1 = 0.0, k3 = 0.0, rmax = 0.0
        for i in 0..<lp.count where mask[i] != 0 {
            let d = Double(lp[i]) - Double(old[i])
            k1 += -d; k3 += exp(d) - 1 - d; rmax = max(rmax, exp(d))
        }
        assertClose(stats.ppoKL, k1 / 9, "ppoKL")
        assertClose(stats.approxKL, k3 / 9, "approxKL")
        assertClose(stats.ratioMax, rmax, "ratioMax")
    }

    /// Boundaries hit exactly: with old = 0 the ratio is expf(logp), so choosing eps from expf values
    /// puts ratio == 1 + epsHigh, 1 - epsLow and c exactly on the bounds.
    func testClipBoundariesExactly() throws {
        let hi = expf(0.25), lo = expf(-0.25), c = expf(1.5)
        let config = PolicyLossConfig(epsLow: 1 - lo, epsHigh: hi - 1, dualClip: c, aggregation: .drGRPO,
                                      drGRPONormalizer: 1)
        XCTAssertEqual(1 + config.epsHigh, hi)
        XCTAssertEqual(1 - config.epsLow, lo)
        let h = Double(hi), l = Double(lo), cc = Double(c)
        // (A, logp, expected loss, expected gradient (nil = exactly 0), which counter)
        let cases: [(Float, Float, Double, Double?, String)] = [
            (2, 0.25, -2 * h, -2 * h, ""),                                        // on 1+epsHigh: unclipped
            (2, 0.2501, -2 * h, nil, "high"),                                     // just outside
            (2, 0.2499, -2 * exp(0.2499), -2 * exp(0.2499), ""),                  // just inside
            (-2, -0.25, 2 * l, 2 * l, ""),                                        // on 1-epsLow: unclipped
            (-2, -0.2501, 2 * l, nil, "low"),                                     // just outside
            (-2, -0.2499, 2 * exp(-0.2499), 2 * exp(-0.2499), ""),                // just inside
            (-2, 1.5, 2 * cc, 2 * cc, ""),                                        // on c: unclipped
            (-2, 1.5001, 2 * cc, nil, "dual"),                                    // just above c
            (-2, 1.4999, 2 * exp(1.4999), 2 * exp(1.4999), ""),                   // just below c (> 1+epsHigh)
            (2, -0.5, -2 * exp(-0.5), -2 * exp(-0.5), ""),                        // A > 0, ratio < lo: no clip
            (-2, 0.5, 2 * exp(0.5), 2 * exp(0.5), ""),                            // A < 0, ratio > hi: no clip
            (0, 1.0, 0, nil, ""),                                                 // A = 0
        ]
        for (a, logp, expectedLoss, expectedGrad, counter) in cases {
            let b = PolicyLossBatch(oldLogProbs: [0], advantages: [a], mask: [1], sequences: [0..<1])
            let (loss, grad, stats) = try lossAndGrad([logp], b, config, normalizer: 1)
            let what = "A=\(a) logp=\(logp)"
            assertClose(loss, expectedLoss, rel: 1e-6, what)
            if let g = expectedGrad { assertClose(Double(grad[0]), g, rel: 1e-6, what) } else {
                XCTAssertEqual(grad[0], 0, "\(what): gradient must be exactly 0")
            }
            XCTAssertEqual(stats.clippedHigh, counter == "high" ? 1 : 0, what)
            XCTAssertEqual(stats.clippedLow, counter == "low" ? 1 : 0, what)
            XCTAssertEqual(stats.dualClipped, counter == "dual" ? 1 : 0, what)
        }
        // Without dual-clip a large ratio with A < 0 stays unclipped (loss grows with the ratio).
        var noDual = config; noDual.dualClip = nil
        let b = PolicyLossBatch(oldLogProbs: [0], advantages: [-2], mask: [1], sequences: [0..<1])
        let (loss, grad, _) = try lossAndGrad([2.0], b, noDual, normalizer: 1)
        assertClose(loss, 2 * exp(2.0), rel: 1e-6, "no dual-clip")
        assertClose(Double(grad[0]), 2 * exp(2.0), rel: 1e-6, "no dual-clip grad")
    }

    /// The default bounds 0.8 / 1.28 / 3, just inside and just outside.
    func testDefaultBoundsInsideOutside() throws {
        let config = PolicyLossConfig(aggregation: .drGRPO, drGRPONormalizer: 1)
        let cases: [(Float, Double, Bool)] = [   // (A, ratio, clipped)
            (1, 1.28 * 0.999, false), (1, 1.28 * 1.001, true),
            (-1, 0.8 * 1.001, false), (-1, 0.8 * 0.999, true),
            (-1, 3 * 0.999, false), (-1, 3 * 1.001, true),
        ]
        for (a, ratio, clipped) in cases {
            let b = PolicyLossBatch(oldLogProbs: [-1], advantages: [a], mask: [1], sequences: [0..<1])
            let (loss, grad, _) = try lossAndGrad([Float(-1 + log(ratio))], b, config, normalizer: 1)
            let bound = a > 0 ? 1.28 : (ratio < 1 ? 0.8 : 3)
            if clipped {
                assertClose(loss, -Double(a) * bound, "A=\(a) ratio=\(ratio)")
                XCTAssertEqual(grad[0], 0)
            } else {
                assertClose(loss, -Double(a) * ratio, "A=\(a) ratio=\(ratio)")
                assertClose(Double(grad[0]), -Double(a) * ratio, "grad A=\(a) ratio=\(ratio)")
            }
        }
    }

    /// Finite differences of the loss w.r.t. the log-probs, every aggregation, ratios away from the kinks.
    func testFiniteDifferenceGradient() throws {
        let n = 40
        var old = randomFloats(n, seed: 1, lo: -3, hi: -0.1)
        let d = randomFloats(n, seed: 2, lo: -0.6, hi: 1.6)
        let adv = randomFloats(n, seed: 3, lo: -1.5, hi: 1.5)
        let mask: [Float] = randomFloats(n, seed: 4).map { $0 < -0.5 ? 0 : 1 }
        let lp = zip(old, d).map { $0 + $1 }
        // Move every ratio at least 2% away from 0.8, 1.28 and 3.
        for i in 0..<n {
            for bound in [0.8, 1.28, 3.0] where abs(exp(Double(lp[i] - old[i])) / bound - 1) < 0.02 {
                old[i] -= 0.05
            }
        }
        let b = PolicyLossBatch(oldLogProbs: old, advantages: adv, mask: mask,
                                sequences: [0..<7, 7..<15, 15..<16, 16..<30, 30..<40])
        var sawClipped = PolicyLossStats()
        for mode in LossAggregation.allCases {
            let config = PolicyLossConfig(aggregation: mode, drGRPONormalizer: 32)
            let norm = try lossNormalizer(config, batches: [b])
            let (_, grad, stats) = try lossAndGrad(lp, b, config, normalizer: norm)
            sawClipped.add(stats)
            let numeric = try numericGradient(lp) { x in
                try noGrad { try policyLoss(Tensor(shape: [n], x), batch: b, config: config, normalizer: norm).stats.pgLoss }
            }
            for i in 0..<n {
                let a = Double(grad[i])
                XCTAssert(abs(a - numeric[i]) <= 2e-4 + 1e-3 * abs(numeric[i]),
                          "\(mode) row \(i): analytic \(a) vs numeric \(numeric[i])")
                if mask[i] == 0 { XCTAssertEqual(grad[i], 0) }
            }
        }
        // The data really exercises every branch.
        XCTAssertGreaterThan(sawClipped.clippedHigh, 0)
        XCTAssertGreaterThan(sawClipped.clippedLow, 0)
        XCTAssertGreaterThan(sawClipped.dualClipped, 0)
    }

    /// Two micro-batches with the mini-batch normalizer give the mini-batch loss and exactly its gradient.
    func testMicroBatchAccumulationMatchesOneBatch() throws {
        let n = lp.count
        let first = PolicyLossBatch(oldLogProbs: Array(old[0..<8]), advantages: Array(adv[0..<8]),
                                    mask: Array(mask[0..<8]), sequences: [0..<4, 4..<8])
        let second = PolicyLossBatch(oldLogProbs: Array(old[8...]), advantages: Array(adv[8...]),
                                     mask: Array(mask[8...]), sequences: [0..<2, 2..<4])
        for mode in LossAggregation.allCases {
            let config = PolicyLossConfig(aggregation: mode, drGRPONormalizer: 16)
            let norm = try lossNormalizer(config, batches: [first, second])
            XCTAssertEqual(norm, try lossNormalizer(config, mask: mask, sequences: seqs))
            let whole = try lossAndGrad(lp, batch, config, normalizer: norm)
            let a = try lossAndGrad(Array(lp[0..<8]), first, config, normalizer: norm)
            let b = try lossAndGrad(Array(lp[8...]), second, config, normalizer: norm)
            assertClose(a.loss + b.loss, whole.loss, rel: 1e-12, "\(mode) accumulated loss")
            XCTAssertEqual(a.grad + b.grad, whole.grad, "\(mode) accumulated gradient")
            var merged = a.stats; merged.add(b.stats)
            XCTAssertEqual(merged.maskedTokens, whole.stats.maskedTokens)
            XCTAssertEqual(merged.sequences, whole.stats.sequences)
            XCTAssertEqual(merged.clippedLow + merged.clippedHigh + merged.dualClipped, 3)
            // Per-micro-batch normalizers would weight the halves differently (except the constant one).
            if mode != .drGRPO {
                let naiveA = try lossAndGrad(Array(lp[0..<8]), first, config,
                                             normalizer: lossNormalizer(config, batches: [first]))
                XCTAssertNotEqual(naiveA.grad, Array(whole.grad[0..<8]), "\(mode)")
            }
        }
        XCTAssertEqual(n, 12)
    }

    /// Masked rows never reach the arithmetic: a NaN log-prob there changes nothing.
    func testMaskedRowsAreIgnoredEvenIfNonFinite() throws {
        var bad = lp
        bad[2] = .nan; bad[8] = -.infinity
        let config = PolicyLossConfig()
        let clean = try lossAndGrad(lp, batch, config, normalizer: 9)
        let dirty = try lossAndGrad(bad, batch, config, normalizer: 9)
        XCTAssertEqual(clean.loss, dirty.loss)
        XCTAssertEqual(clean.grad, dirty.grad)
    }

    func testAllMaskedGivesZeroLossAndGradient() throws {
        let b = PolicyLossBatch(oldLogProbs: old, advantages: adv, mask: [Float](repeating: 0, count: 12), sequences: seqs)
        for mode in LossAggregation.allCases where mode != .drGRPO {
            let config = PolicyLossConfig(aggregation: mode)
            let norm = try lossNormalizer(config, batches: [b])
            XCTAssertEqual(norm, 1)
            let r = try lossAndGrad(lp, b, config, normalizer: norm)
            XCTAssertEqual(r.loss, 0)
            XCTAssert(r.grad.allSatisfy { $0 == 0 })
            XCTAssertEqual(r.stats.clipFrac, 0)
        }
    }

    func testBadInputThrows() throws {
        let t = try Tensor(shape: [12], lp)
        let cfg = PolicyLossConfig()
        func expectThrow(_ b: PolicyLossBatch, _ c: PolicyLossConfig = PolicyLossConfig(), norm: Float = 9,
                         _ tensor: Tensor? = nil, line: UInt = #line) {
            XCTAssertThrowsError(try policyLoss(tensor ?? t, batch: b, config: c, normalizer: norm), line: line)
        }
        var b = batch; b.mask.removeLast(); expectThrow(b)
        b = batch; b.sequences = [0..<4, 3..<8, 8..<10, 10..<12]; expectThrow(b)   // overlap
        b = batch; b.sequences = [0..<4, 10..<12]; expectThrow(b)                 // rows 4..<8 masked but in no sequence
        b = batch; b.sequences = [0..<4, 4..<8, 8..<10, 10..<13]; expectThrow(b)  // out of bounds
        b = batch; b.mask[0] = -1; expectThrow(b)
        b = batch; b.mask[0] = .nan; expectThrow(b)
        expectThrow(batch, norm: 0)
        expectThrow(batch, norm: .infinity)
        expectThrow(batch, PolicyLossConfig(dualClip: 1))
        expectThrow(batch, PolicyLossConfig(epsLow: 1))
        expectThrow(batch, PolicyLossConfig(epsHigh: -0.1))
        expectThrow(batch, norm: 9, try Tensor(shape: [3, 4], lp))
        // The one above with rows 8, 9 outside every sequence is legal only because their mask is 0:
        b = batch; b.sequences = [0..<4, 4..<8, 10..<12]
        XCTAssertNoThrow(try policyLoss(t, batch: b, config: cfg, normalizer: 9))
    }
}
