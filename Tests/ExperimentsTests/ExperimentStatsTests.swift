import Foundation
import XCTest
@testable import Experiments

final class ExperimentStatsTests: XCTestCase {
    func testPercentileAndMedian() {
        XCTAssertEqual(percentile([4, 1, 3, 2], 0.95), 3.85, accuracy: 1e-12)   // numpy: 3.85
        XCTAssertEqual(percentile([5], 0.95), 5)
        XCTAssertEqual(median(of: [3, 1, 2]), 2)
        XCTAssertTrue(percentile([], 0.5).isNaN)
    }

    func testSpikesAgainstRunningMedian() {
        // 20 > 10 x median(1,1,1); 9 < 10 x 1; inf always; 0 is neither spike nor history; 2 early values too few.
        XCTAssertEqual(spikeSteps([1, 50, 1, 1, 20, 1, 0, 9, .infinity, 1]), [4, 8])
        // The window forgets: the second 100 still meets a median of 1, but once the window holds mostly 100s,
        // 200 is no spike; 2000 is.
        XCTAssertEqual(spikeSteps([1, 1, 1, 100, 100, 100, 200, 2000], window: 3), [3, 4, 7])
    }

    func testRunStatsAndSpread() {
        let norms: [Double?] = [1, 1, 1, 30, 1, nil]   // nil: a non-finite step, written as null
        let metrics: [[String: Double]] = norms.enumerated().map { i, g in
            var m: [String: Double] = ["step": Double(i + 1), "tir/grad_norm_max": (g ?? 2) * 2, "tir/accuracy": Double(i) / 10,
                                       "tir/low_prob/1e-3": 0.01, "tir/filtered_void": 4, "timing_s/step": 30,
                                       "env/void_turn_ratio": i == 0 ? 0 : 0.6]
            if let g { m["actor/grad_norm"] = g }
            return m
        }
        let s = RunStats(metrics: metrics, trajectoriesPerStep: 16)
        XCTAssertEqual(s.spikeSteps, [3, 5])
        XCTAssertEqual(s.values["spikes"], 2)
        XCTAssertEqual(s.values["grad_norm_max"], 60)
        XCTAssertEqual(s.values["grad_norm_median"], 1)
        XCTAssertEqual(s.values["accuracy_final"]!, 0.3, accuracy: 1e-12)    // mean of 0.1 ... 0.5
        XCTAssertEqual(s.values["accuracy_first"]!, 0.2, accuracy: 1e-12)
        XCTAssertEqual(s.values["filtered_frac"], 0.25)
        XCTAssertEqual(s.values["void_turn_ratio"]!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(s.values["void_turn_final"]!, 0.6, accuracy: 1e-12)
        XCTAssertEqual(s.values["minutes"], 3)
        let m = MeanSpread([1, 3])
        XCTAssertEqual(m.mean, 2)
        XCTAssertEqual(m.sd, 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertTrue(MeanSpread([4]).sd.isNaN)
    }

    func run(_ arm: ExperimentArm, seed: UInt64, spikeAt: [Int]) -> ExperimentRun {
        let metrics: [[String: Double]] = (0..<20).map { i in
            let g = spikeAt.contains(i) ? 50.0 : 1.0
            return ["step": Double(i + 1), "actor/grad_norm": g, "tir/grad_norm_max": g, "tir/accuracy": 0.5]
        }
        return ExperimentRun(arm: arm, seed: seed, dir: URL(fileURLWithPath: "/tmp"), metrics: metrics)
    }

    func testConclusionFollowsTheNumbers() {
        let arms = ExperimentArm.instabilityArms()
        let naive = arms[0], fixed = arms[1]
        func line(_ naiveSpikes: [[Int]], _ fixedSpikes: [[Int]], about: String = "Void-turn filtering (tool mask on)") -> String {
            let runs = naiveSpikes.enumerated().map { run(naive, seed: UInt64($0.offset + 1), spikeAt: $0.element) }
                + fixedSpikes.enumerated().map { run(fixed, seed: UInt64($0.offset + 1), spikeAt: $0.element) }
            let summaries = [naive, fixed].map { a in ArmSummary(arm: a, runs: runs.filter { $0.arm == a }, trajectoriesPerStep: 4) }
            let md = InstabilityConclusion(summaries: summaries, steps: 20).markdown
            return md.split(separator: "\n").first { $0.contains(about) }.map(String.init) ?? ""
        }
        XCTAssertTrue(line([[5, 9], [7]], [[], []]).contains("**reproduced at this scale**"))
        XCTAssertTrue(line([[5, 9], []], [[], []]).contains("**not clearly reproduced**"))
        XCTAssertTrue(line([[], []], [[6], []]).contains("**not reproduced at this scale**"))
        XCTAssertTrue(line([[5, 9], [7]], [[], []]).contains("seed 1: 2 vs 0, seed 2: 1 vs 0"))
        let naiveLine = { (spikes: [[Int]]) in line(spikes, [[], []], about: "Instability in naive") }
        XCTAssertTrue(naiveLine([[5, 9], [7]]).contains("spikes **present**"))
        XCTAssertTrue(naiveLine([[5], []]).contains("**fewer than one spike per run**"))
        XCTAssertTrue(naiveLine([[], []]).contains("**no spikes**"))
    }

    func testLogChartBreaksLinesAndLabelsDecades() {
        let chart = LineChart(title: "a < b & c", xLabel: "step", yLabel: "norm", series: [
            PlotSeries(name: "arm", color: "#123456", points: [(1, 0.5), (2, 3), (3, 0), (4, 40), (5, 200)], markers: [4]),
            PlotSeries(name: "arm", color: "#123456", points: [(1, 1), (2, 2)]),
        ], logY: true)
        let svg = chart.svg()
        XCTAssertTrue(svg.contains("a &lt; b &amp; c"))
        XCTAssertEqual(svg.components(separatedBy: ">arm</text>").count - 1, 1, "one legend entry per name")
        for tick in [">0.1<", ">1<", ">10<", ">100<", ">1000<"] { XCTAssertTrue(svg.contains(tick), "missing tick \(tick)") }
        // y = 0 cannot sit on a log axis: the first series is drawn as two pieces.
        let firstPath = svg.components(separatedBy: "<path d=\"")[1].prefix { $0 != "\"" }
        XCTAssertEqual(firstPath.filter { $0 == "M" }.count, 2)
        XCTAssertTrue(svg.contains("r=\"5\""), "the spike marker")
        XCTAssertEqual(logTicks(0, 1), [1, 2, 5, 10])
        XCTAssertEqual(niceStep(0.3), 0.5)
        XCTAssertEqual(niceStep(7), 10)
    }
}

/// The trend criterion: a slow rise is found, a flat or noisy series is not, steps without a gradient are left out.
final class GrowthTrendTests: XCTestCase {
    func testSpearmanOnKnownSeries() {
        XCTAssertEqual(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1, accuracy: 1e-12)
        XCTAssertEqual(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1, accuracy: 1e-12)
        // Ties take their mean rank: ranks of y are 1.5, 1.5, 3, 4 -> rho = 4.5 / sqrt(5 * 4.5).
        XCTAssertEqual(spearman([1, 2, 3, 4], [5, 5, 6, 7]), 4.5 / (5 * 4.5).squareRoot(), accuracy: 1e-12)
        XCTAssertTrue(spearman([1, 2], [3, 3]).isNaN)
    }

    func testSlowRiseGrowsAndFlatDoesNot() {
        let rise: [Double] = (0..<30).map { i in
            let wobble: Double = i % 3 == 0 ? 0.3 : 0
            return 1 + Double(i) * 0.2 + wobble    // ~1 -> ~7
        }
        let t = GrowthTrend(rise)
        XCTAssertTrue(t.grows)
        XCTAssertGreaterThan(t.ratio, 3)
        XCTAssertGreaterThan(t.rho, 0.9)
        let flat: [Double] = (0..<30).map { i in (i * 7) % 5 == 0 ? 1.8 : 1.1 }
        XCTAssertFalse(GrowthTrend(flat).grows)
        // One late spike is not a trend: the last window's median stays low.
        var spiky = [Double](repeating: 1, count: 30)
        spiky[25] = 50
        XCTAssertFalse(GrowthTrend(spiky).grows)
        // Medians, not means: a steady, barely rising series whose very last step spikes has rho 1 and a mean
        // ratio near 10, but its medians rise by 10%.
        var late: [Double] = (0..<20).map { 1 + Double($0) * 0.01 }
        late[19] = 100
        XCTAssertEqual(GrowthTrend(late).rho, 1, accuracy: 1e-12)
        XCTAssertEqual(GrowthTrend(late).ratio, 1.145 / 1.045, accuracy: 1e-9)
        XCTAssertFalse(GrowthTrend(late).grows)
        // Zero norms (no gradient) are left out: zeros then a flat series do not grow.
        XCTAssertFalse(GrowthTrend([Double](repeating: 0, count: 10) + [Double](repeating: 2, count: 20)).grows)
        XCTAssertTrue(GrowthTrend([0, 0, 0]).ratio.isNaN)
        // Short runs use half of their steps as the window.
        let short = GrowthTrend([1, 1.1, 1.2, 4, 5, 6])
        XCTAssertEqual(short.ratio, 5 / 1.1, accuracy: 1e-12)
        XCTAssertTrue(short.grows)
    }
}
