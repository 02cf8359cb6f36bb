import XCTest
import Tensor
@testable import GRPO

final class KLTests: XCTestCase {
    let lp: [Float] = [-1, -2, -0.5, -0.3]
    let ref: [Float] = [-1.5, -1, -3, 12.7]     // x = 0.5, -1, (2.5 masked), -13 (k3 clamps at 10)
    let mask: [Float] = [1, 1, 0, 1]

    func value(_ e: KLEstimator, _ x: [Float]) throws -> (Double, [Float]) {
        let t = try Tensor(shape: [x.count], x, requiresGrad: true)
        let k = try klPenalty(t, refLogProbs: ref, mask: mask, estimator: e, normalizer: 3)
        try k.backward()
        return (Double(k.item()), t.gradArray!)
    }

    func testHandValuesAndGradients() throws {
        let xs = [0.5, -1.0, -13.0]   // the masked row is left out
        let cases: [(KLEstimator, (Double) -> Double, (Double) -> Double)] = [
            (.k1, { $0 }, { _ in 1 }),
            (.k2, { 0.5 * $0 * $0 }, { $0 }),
            (.k3, { min(exp(-$0) + $0 - 1, 10) }, { exp(-$0) + $0 - 1 > 10 ? 0 : 1 - exp(-$0) }),
        ]
        for (e, k, dk) in cases {
            let (v, g) = try value(e, lp)
            assertClose(v, xs.map(k).reduce(0, +) / 3, "\(e) value")
            XCTAssertEqual(g[2], 0, "\(e): masked row must have exactly zero gradient")
            for (row, x) in zip([0, 1, 3], xs) {
                assertClose(Double(g[row]), dk(x) / 3, "\(e) grad row \(row)")
            }
        }
        // k3 at the clamp: value 10, gradient exactly 0
        XCTAssertEqual(try value(.k3, lp).1[3], 0)
    }

    func testFiniteDifferences() throws {
        let n = 16
        let x = randomFloats(n, seed: 21, lo: -2, hi: -0.5)   // |x| <= 1.5: k3 stays below its clamp
        let r = randomFloats(n, seed: 22, lo: -2, hi: -0.5)
        let m: [Float] = randomFloats(n, seed: 23).map { $0 < -0.3 ? 0 : 1 }
        for e in KLEstimator.allCases {
            let t = try Tensor(shape: [n], x, requiresGrad: true)
            try klPenalty(t, refLogProbs: r, mask: m, estimator: e, normalizer: 5).backward()
            let numeric = try numericGradient(x) { y in
                // Double re-evaluation of the same formula would hide Float rounding: use the op itself.
                Double(try noGrad { try klPenalty(Tensor(shape: [n], y), refLogProbs: r, mask: m, estimator: e, normalizer: 5) }.item())
            }
            for i in 0..<n {
                XCTAssert(abs(Double(t.gradArray![i]) - numeric[i]) <= 1e-3 + 1e-2 * abs(numeric[i]),
                          "\(e) row \(i): \(t.gradArray![i]) vs \(numeric[i])")
            }
        }
    }

    func testBadInputThrows() throws {
        let t = try Tensor(shape: [4], lp)
        XCTAssertThrowsError(try klPenalty(t, refLogProbs: [0], mask: mask, estimator: .k1, normalizer: 1))
        XCTAssertThrowsError(try klPenalty(t, refLogProbs: ref, mask: mask, estimator: .k1, normalizer: 0))
        XCTAssertThrowsError(try klPenalty(t, refLogProbs: ref, mask: [1, 1, -1, 1], estimator: .k1, normalizer: 1))
    }
}

final class TokenStatsTests: XCTestCase {
    func testEntropy() throws {
        let v = 50
        // rows: uniform, [0, ln 2, -inf...] (p = 1/3, 2/3), huge logits (stable, ~0), masked garbage
        var logits = [Float](repeating: 0.7, count: v)
        var two = [Float](repeating: -.infinity, count: v); two[0] = 0; two[1] = Float(log(2.0))
        var spike = [Float](repeating: 0, count: v); spike[3] = 1000
        let garbage = [Float](repeating: .nan, count: v)
        logits += two + spike + garbage
        let h2 = -(1.0 / 3 * log(1.0 / 3) + 2.0 / 3 * log(2.0 / 3))
        try logits.withUnsafeBufferPointer { p in
            let base = p.baseAddress!
            assertClose(try maskedEntropy(logits: base, rows: 1, vocab: v, mask: [1]), log(Double(v)), rel: 1e-6, "uniform")
            assertClose(try maskedEntropy(logits: base + v, rows: 1, vocab: v, mask: [1]), h2, rel: 1e-6, "two-point")
            XCTAssertEqual(try maskedEntropy(logits: base + 2 * v, rows: 1, vocab: v, mask: [1]), 0, accuracy: 1e-12)
            let all = try maskedEntropy(logits: base, rows: 4, vocab: v, mask: [1, 1, 1, 0])
            assertClose(all, (log(Double(v)) + h2) / 3, rel: 1e-6, "mean over masked rows")
            let (sum, w) = try maskedEntropySum(logits: base, rows: 4, vocab: v, mask: [2, 0, 0, 0])
            assertClose(sum, 2 * log(Double(v)), rel: 1e-6, "weighted sum")
            XCTAssertEqual(w, 2)
            XCTAssert(try maskedEntropy(logits: base, rows: 4, vocab: v, mask: [0, 0, 0, 0]).isNaN)
            XCTAssertThrowsError(try maskedEntropy(logits: base, rows: 4, vocab: v, mask: [1]))
        }
    }

    func testLowProbabilityFractions() throws {
        let lp: [Float] = [log(0.5), log(1e-4), log(1e-7), log(1e-2), log(1e-9)].map { Float($0) }
        let f = try lowProbabilityFractions(samplingLogProbs: lp, mask: [1, 1, 1, 1, 0])
        XCTAssertEqual(f, [0.5, 0.25])
        XCTAssertEqual(try lowProbabilityFractions(samplingLogProbs: lp, mask: [0, 0, 0, 0, 1], thresholds: [1e-8]), [1])
        XCTAssert(try lowProbabilityFractions(samplingLogProbs: lp, mask: [0, 0, 0, 0, 0]).allSatisfy(\.isNaN))
        XCTAssertThrowsError(try lowProbabilityFractions(samplingLogProbs: lp, mask: [1]))
    }
}

final class MetricsLogTests: XCTestCase {
    func testLinesParseAsSortedJSON() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("grpo-metrics-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("sub/metrics.jsonl")
        do {
            let log = try MetricsLog(url: url, append: false)
            try log.write(["step": 1, "loss": 0.125, "tiny": 1e-7, "nan": .nan, "inf": -.infinity],
                          strings: ["note": "a \"quoted\"\nline\\ \u{1}é"])
            try log.write(["step": 2, "big": 1e300])
            XCTAssertThrowsError(try log.write(["step": 3], strings: ["step": "x"]))
        }
        var lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(first["step"] as? Double, 1)
        XCTAssertEqual(first["loss"] as? Double, 0.125)
        XCTAssertEqual(first["tiny"] as? Double, 1e-7)
        XCTAssert(first["nan"] is NSNull)
        XCTAssert(first["inf"] is NSNull)
        XCTAssertEqual(first["note"] as? String, "a \"quoted\"\nline\\ \u{1}é")
        let keys = ["inf", "loss", "nan", "note", "step", "tiny"]
        let positions = keys.map { lines[0].range(of: "\"\($0)\":")!.lowerBound }
        XCTAssertEqual(positions, positions.sorted(), "keys must be written sorted")
        let second = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        XCTAssertEqual(second["big"] as? Double, 1e300)

        // append keeps the old lines; append: false truncates
        try MetricsLog(url: url, append: true).write(["step": 3])
        lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(lines[2], "{\"step\":3.0}")
        try MetricsLog(url: url, append: false).write(["step": 4])
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "{\"step\":4.0}\n")
    }
}
