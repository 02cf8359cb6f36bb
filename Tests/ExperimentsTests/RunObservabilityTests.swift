import Foundation
import XCTest
import GRPO
import Model
import Rollout
import ToyWorld
import Training
@testable import Experiments

/// Rewards even-length responses: varied reward signal (so a gradient) from an untrained policy.
struct EvenLength: RewardScheme {
    var name: String { "even-length" }
    func reward(_ input: RewardInput) -> Float { input.responseTokens % 2 == 0 ? 1 : -1 }
}

/// Issue 16: a 2-step GRPO run logs verl's names, TensorBoard events equal to its metrics.jsonl, and curves.
final class RunObservabilityTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-observe-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    func twoStepRun() async throws -> (GRPORun, [[String: Double]]) {
        let base = root.appendingPathComponent("base")
        let p = try Policy(config: PolicyConfig(dim: 16, layers: 1, heads: 2, ffn: 24, context: 96), seed: 11)
        for j in 0..<16 { (p.arena.data + Int(ByteTokenizer.eos) * 16)[j] = 1 }   // EOS likely: lengths vary
        try Checkpoint.save(p, to: base)
        var c = GRPOConfig()
        c.steps = 2; c.promptsPerStep = 2; c.groupSize = 4; c.miniBatches = 1; c.microBatch = 8
        c.rollout.maxTurnTokens = 10; c.rollout.maxTrajectoryTokens = 10; c.filter.voidTurns = false; c.optimizer.lr = 2e-3; c.seed = 5
        let run = GRPORun(config: c, dir: root.appendingPathComponent("run"))
        var seen: [[String: Double]] = []
        let m = try await run.run(base: base, tasks: ToyWorld(seed: 1).trainSource, executor: nil, start: .new,
                                  reward: EvenLength()) { seen.append($0) }
        XCTAssertEqual(seen.map { $0["step"] }, m.map { $0["step"] }, "progress sees every step")
        return (run, m)
    }

    func testTwoStepRunLogsVerlNamesTensorBoardAndCurves() async throws {
        let (run, metrics) = try await twoStepRun()
        XCTAssertEqual(metrics.count, 2)

        // 1. metrics.jsonl: every key is in the names table, verl's own among them, no legacy key left.
        let lines = try String(contentsOf: run.metricsURL, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let documented = Set(MetricNames.grpo.map(\.key)), legacy = Set(MetricNames.grpo.compactMap(\.legacy))
        for line in lines {
            let keys = Set((try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]).keys)
            XCTAssertEqual(keys.subtracting(documented), [], "keys missing from MetricNames.grpo")
            XCTAssertEqual(keys.intersection(legacy), [], "legacy keys written")
            for k in ["actor/grad_norm", "actor/pg_loss", "actor/pg_clipfrac", "actor/pg_clipfrac_lower", "actor/ppo_kl",
                      "actor/entropy", "actor/lr", "critic/score/mean", "critic/rewards/mean", "critic/advantages/mean",
                      "critic/advantages/max", "critic/advantages/min", "response_length/mean", "response_length/max",
                      "response_length/min", "response_length/clip_ratio", "num_turns/mean", "num_turns/max", "num_turns/min",
                      "tool_call_counts/mean", "env/void_turn_ratio", "env/code_use_ratio", "env/valid_code_ratio"] {
                XCTAssertTrue(keys.contains(k), "no \(k)")
            }
        }
        XCTAssertTrue(metrics.allSatisfy { ($0["actor/grad_norm"] ?? 0) > 0 }, "the curves check below needs a gradient")

        // 2. TensorBoard: one file, version, session start at step 1, then one event per step equal to the JSONL.
        let events = try EventFileReader.events(dir: run.tensorBoardDir)
        XCTAssertEqual(events.count, 4)
        XCTAssertEqual(events.first?.fileVersion, "brain.Event:2")
        XCTAssertEqual(events[1].sessionStatus, 1)
        XCTAssertEqual(events[1].step, 1)
        for (e, line) in zip(events.dropFirst(2), lines) {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertEqual(e.step, Int64((object["step"] as! NSNumber).intValue))
            XCTAssertEqual(Set(e.scalars.keys), Set(object.keys).subtracting(["step"]))
            for (k, v) in e.scalars {
                if let x = object[k] as? NSNumber {
                    XCTAssertEqual(v, Float(x.doubleValue), "\(k) at step \(e.step)")
                } else {
                    XCTAssertFalse(v.isFinite, "\(k) is null in the JSONL but \(v) in TensorBoard")
                }
            }
        }

        // 3. Curves: a non-empty SVG, each default panel's line has one point per step.
        let svg = try RunCurves(runDirs: [run.dir]).svg()
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
        let paths = svg.components(separatedBy: "<path d=\"").dropFirst().map { $0.prefix { $0 != "\"" } }
        XCTAssertEqual(paths.count, RunCurves.defaultKeys.count)
        for d in paths {
            XCTAssertEqual(d.filter { $0 == "M" || $0 == "L" }.count, 2, "points of \(d)")
        }
        XCTAssertEqual(Set(svg.components(separatedBy: "clipPath id=\"").dropFirst().map { $0.prefix { $0 != "\"" } }).count,
                       RunCurves.defaultKeys.count, "clip-path ids must be unique per panel")
        XCTAssertThrowsError(try RunCurves(runDirs: [run.dir], keys: ["no/such_metric"]).svg())
        XCTAssertThrowsError(try RunCurves(runDirs: [root]))     // no metrics.jsonl there
    }

    /// A metrics file written before the verl names reads under them (resume and experiment reports).
    func testLegacyMetricsFileReadsUnderCurrentNames() throws {
        let url = root.appendingPathComponent("old/metrics.jsonl")
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("""
        {"accuracy":0.25,"grad_norm":1.5,"low_prob_1e-3":0.01,"reward_mean":0.5,"step":1.0,"time_step":2.0}
        {"actor/grad_norm":3.0,"grad_norm":9.0,"step":2.0}

        """.utf8).write(to: url)
        let m = MetricsLog.read(url)
        XCTAssertEqual(m.count, 2)
        XCTAssertEqual(m[0], ["tir/accuracy": 0.25, "actor/grad_norm": 1.5, "tir/low_prob/1e-3": 0.01, "critic/score/mean": 0.5,
                              "critic/rewards/mean": 0.5, "step": 1, "timing_s/step": 2])
        XCTAssertEqual(m[1], ["actor/grad_norm": 3, "step": 2], "a current key wins over a legacy one")
        let stats = RunStats(metrics: m, trajectoriesPerStep: 8)
        XCTAssertEqual(stats.values["low_prob"], 0.01)
        XCTAssertEqual(stats.values["accuracy_first"], 0.25)
        XCTAssertEqual(MetricNames.resolve("grad_norm"), "actor/grad_norm")
        XCTAssertEqual(MetricNames.resolve("actor/entropy"), "actor/entropy")
    }

    /// docs/METRICS.md lists every key of the table.
    func testMetricsDocListsEveryKey() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/METRICS.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        for n in MetricNames.grpo + MetricNames.pretrain {
            XCTAssertTrue(text.contains("| `\(n.key)` |"), "docs/METRICS.md has no row for \(n.key)")
            if let l = n.legacy { XCTAssertTrue(text.contains("`\(l)`"), "docs/METRICS.md does not name \(n.key)'s old key \(l)") }
        }
        XCTAssertEqual(Set(MetricNames.grpo.map(\.key)).count, MetricNames.grpo.count, "duplicate keys in the table")
    }
}
