import Foundation
import XCTest
import GRPO
import Model
import Pretrain
import Rollout
import Sandbox
import SandboxExecutor
import Training
@testable import Experiments

/// A barely trained tiny base policy in `dir` (enough for the pipeline, not for learning).
func makeTinyBase(_ dir: URL) throws {
    var pc = PretrainConfig()
    pc.policy = PolicyConfig(dim: 32, layers: 1, heads: 2, ffn: 48, context: 256)
    pc.steps = 3
    pc.batch = 2
    pc.seqLen = 128
    pc.warmupSteps = 1
    pc.evalEvery = 0
    pc.checkpointEvery = 0
    pc.documents = 40
    try PretrainRun(config: pc, dir: dir).run(start: .new) { _ in }
}

/// A one-worker sandbox with a 2 s timeout for the tests that run code; skips the test where it cannot start.
func testSandbox(for what: String) throws -> SandboxPool {
    var limits = SandboxLimits()
    limits.timeout = 2
    do { return try SandboxPool(workers: 1, limits: limits) } catch {
        throw XCTSkip("the sandbox cannot start on this machine (\(error)); the \(what) needs it to run code")
    }
}

/// The tiny Qwen2 model committed with the model tests (GQA, q/k/v biases, untied head, byte-level BPE, ChatML).
let tinyQwen2Fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../ModelTests/Fixtures/models/tiny-qwen2").standardized

/// The `--quick` path of `tir experiment instability` on tiny sizes: a tiny pretrained policy, 2 arms x
/// 2 seeds x 2 steps with real code execution, then every output file.
final class ExperimentTests: XCTestCase {
    func testQuickExperimentWritesEveryOutput() async throws {
        let pool = try testSandbox(for: "experiment")
        defer { pool.shutdown() }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-exp-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let base = root.appendingPathComponent("base"), out = root.appendingPathComponent("out")
        try makeTinyBase(base)

        var s = InstabilitySettings.quick(steps: 2, seeds: 2)
        let all = ExperimentArm.instabilityArms()
        s.arms = [all.first!, all.last!]            // multi-nofilter-mask, single-filter-mask
        s.shared.promptsPerStep = 2
        s.shared.groupSize = 2
        s.shared.miniBatches = 1
        s.shared.microBatch = 4
        s.shared.rollout.maxTurnTokens = 24
        s.shared.rollout.maxTrajectoryTokens = 64
        s.shared.checkpointEvery = 1
        let experiment = try InstabilityExperiment(settings: s, outDir: out, base: base)

        var seen: [String] = []
        let (runs, share) = try await experiment.run(executor: pool, start: .new) { p in seen.append("\(p.arm.name)/\(p.seed)/\(Int(p.metrics["step"]!))") }
        XCTAssertEqual(share, WorkShare(ran: 4, done: 0, others: 0))
        XCTAssertEqual(seen, ["multi-nofilter-mask/1/1", "multi-nofilter-mask/1/2", "single-filter-mask/1/1", "single-filter-mask/1/2",
                              "multi-nofilter-mask/2/1", "multi-nofilter-mask/2/2", "single-filter-mask/2/1", "single-filter-mask/2/2"])
        XCTAssertEqual(runs.count, 4)
        for r in runs {
            XCTAssertEqual(r.metrics.count, 2)
            for key in ["actor/grad_norm", "tir/grad_norm_max", "tir/accuracy", "tir/low_prob/1e-3", "env/void_turn_ratio", "tir/tool_call_rate"] {
                XCTAssertNotNil(r.metrics.last?[key], "\(r.arm.name) seed \(r.seed) has no \(key)")
            }
            let lines = try String(contentsOf: r.metricsURL, encoding: .utf8).split(separator: "\n")
            XCTAssertEqual(lines.count, 2, r.metricsURL.path)
            let config = try GRPOConfig.load(json: Data(contentsOf: r.dir.appendingPathComponent("config.json")))
            XCTAssertEqual(config.rollout.maxToolCalls, r.arm.maxToolCalls)
            XCTAssertEqual(config.filter.voidTurns, r.arm.filterVoidTurns)
            XCTAssertEqual(config.seed, r.seed)
            XCTAssertEqual(config.rollout.sampling.temperature, 1)
            XCTAssertEqual(config.kl.beta, 0)
            let left = try FileManager.default.contentsOfDirectory(atPath: r.dir.path).filter { $0.hasPrefix("checkpoint") || $0 == "latest" }
            XCTAssertEqual(left, [], "finished runs drop their checkpoints by default")
        }

        // A second invocation reuses the finished runs: no step is trained again.
        var again = 0
        do {
            _ = try await experiment.run(executor: pool, start: .new)
            XCTFail("a second experiment into the same --out must be refused without --resume or --force")
        } catch { XCTAssertTrue("\(error)".contains("already holds an experiment"), "\(error)") }
        let (reused, reusedShare) = try await experiment.run(executor: pool, start: .resume) { _ in again += 1 }
        XCTAssertEqual(again, 0)
        XCTAssertEqual(reusedShare, WorkShare(ran: 0, done: 4, others: 0))
        XCTAssertEqual(reused.map { $0.metrics.map { $0["actor/grad_norm"] ?? -1 } }, runs.map { $0.metrics.map { $0["actor/grad_norm"] ?? -1 } })
        XCTAssertEqual(try experiment.finishedRuns().count, 4)
        // --force trains every planned run again, to the same numbers.
        var forced = 0
        let (redone, forcedShare) = try await experiment.run(executor: pool, start: .force) { _ in forced += 1 }
        XCTAssertEqual(forced, 8)
        XCTAssertEqual(forcedShare, WorkShare(ran: 4, done: 0, others: 0))
        XCTAssertEqual(redone.map { $0.metrics.map { $0["actor/grad_norm"] ?? -1 } }, runs.map { $0.metrics.map { $0["actor/grad_norm"] ?? -1 } })
        // ... but never across base policies: runs from another base are not "finished" for this one.
        let otherBase = root.appendingPathComponent("base2")
        try FileManager.default.copyItem(at: base, to: otherBase)
        let h = try FileHandle(forUpdating: try resolveCheckpoint(otherBase).appendingPathComponent("model.safetensors"))
        try h.seekToEnd()
        try h.write(contentsOf: Data([0]))      // same path layout, different bytes
        try h.close()
        XCTAssertEqual(try InstabilityExperiment(settings: s, outDir: out, base: otherBase).finishedRuns().count, 0)

        let files = try InstabilityReport(experiment: experiment, runs: runs).write()
        let csv = try String(contentsOf: files.summaryCSV, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 3)
        XCTAssertTrue(csv[0].hasPrefix("arm,max_tool_calls,filter_void_turns,mask_tool_tokens,seeds,grad_norm_max_mean,grad_norm_max_sd"))
        XCTAssertTrue(csv[1].hasPrefix("multi-nofilter-mask,5,false,true,2,"))
        XCTAssertTrue(csv[2].hasPrefix("single-filter-mask,1,true,true,2,"))
        XCTAssertEqual(try String(contentsOf: files.runsCSV, encoding: .utf8).split(separator: "\n").count, 5)
        XCTAssertEqual(files.svgs.map(\.lastPathComponent), ["grad_norm.svg", "grad_attribution.svg", "accuracy.svg", "low_prob.svg"])
        for svg in files.svgs {
            let text = try String(contentsOf: svg, encoding: .utf8)
            XCTAssertTrue(text.hasPrefix("<svg") && text.hasSuffix("</svg>\n"), svg.path)
            XCTAssertTrue(text.contains("multi-nofilter-mask") && text.contains("single-filter-mask"), svg.path)
        }
        let report = try String(contentsOf: files.report, encoding: .utf8)
        for needle in ["## What was run", "## Results", "## Conclusion", "| arm | max grad norm | p95 grad norm",
                       "| `multi-nofilter-mask` |", "| `single-filter-mask` |", "Seeds**: 1, 2",
                       "2 GRPO steps x 2 prompts x 2 samples", "not judged"] {
            XCTAssertTrue(report.contains(needle), "REPORT.md lacks \(needle)")
        }
        if PNGConverter.find() != nil {
            XCTAssertNil(files.pngSkipped)
            XCTAssertEqual(files.pngs.count, 4)
            for png in files.pngs {
                XCTAssertEqual(try Data(contentsOf: png).prefix(4), Data([0x89, 0x50, 0x4e, 0x47]), png.path)
            }
            XCTAssertTrue(report.contains("](grad_norm.png)"))
        }
        // Without rsvg-convert: SVGs embedded and a plain note, never a failure.
        let noPNG = try InstabilityReport(experiment: experiment, runs: runs).write(rsvgConvert: nil)
        XCTAssertTrue(noPNG.pngs.isEmpty)
        XCTAssertNotNil(noPNG.pngSkipped)
        let report2 = try String(contentsOf: noPNG.report, encoding: .utf8)
        XCTAssertTrue(report2.contains("PNG files were skipped") && report2.contains("](grad_norm.svg)"))
    }
}

/// `--sweep` on tiny sizes: two conditions (one with a bf16 rollout and TIS), the per-condition reports, the
/// phase table, and a re-invocation that trains nothing.
final class SweepTests: XCTestCase {
    func testTinySweepWritesThePhaseTable() async throws {
        let pool = try testSandbox(for: "sweep")
        defer { pool.shutdown() }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-sweep-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let base = root.appendingPathComponent("base")
        try makeTinyBase(base)
        let catalog = InstabilitySweep.catalog()
        var baseline = catalog.first { $0.name == "baseline" }!, bf16 = catalog.first { $0.name == "bf16" }!
        baseline.arms = Array(baseline.arms.prefix(2))
        bf16.arms = bf16.arms.filter { ["multi-nofilter-mask", "multi-nofilter-mask-tis"].contains($0.name) }
        var s = InstabilitySweep(shared: InstabilitySettings.quick(steps: 2).shared, conditions: [baseline, bf16], seeds: [1])
        s.shared.promptsPerStep = 2; s.shared.groupSize = 2; s.shared.miniBatches = 1; s.shared.microBatch = 4
        s.shared.rollout.maxTurnTokens = 24; s.shared.rollout.maxTrajectoryTokens = 64
        let runner = try SweepRunner(sweep: s, outDir: root.appendingPathComponent("out"), bases: [nil: base])
        var steps = 0
        let results = try await runner.run(executor: pool) { _, _ in steps += 1 }.results
        XCTAssertEqual(steps, 4 * 2)
        XCTAssertEqual(results.map(\.condition.name), ["baseline", "bf16"])
        XCTAssertNotNil(results[0].probe?.entropy)
        let tis = results[1].runs.first { $0.arm.importanceCorrection == .tis }!
        // The TIS arm recomputes old log-probs (rollout_corr/ metrics appear once a step has a trained token).
        XCTAssertNotNil(tis.metrics.last?["timing_s/old_log_prob"])
        XCTAssertTrue(try GRPOConfig.load(json: Data(contentsOf: tis.dir.appendingPathComponent("config.json"))).correction.recomputeOldLogProbs)
        XCTAssertNotNil(results[0].runs[0].metrics.last?["tir/logit_grad_norm"])
        for r in results {
            XCTAssertTrue(FileManager.default.fileExists(atPath: runner.conditionDir(r.condition).appendingPathComponent("REPORT.md").path))
        }
        let file = try SweepReport(results: results, sweep: s, outDir: runner.outDir).write()
        let md = try String(contentsOf: file, encoding: .utf8)
        for needle in ["## Phase table", "| `baseline` | `multi-nofilter-mask` |", "| `bf16` | TIS | `multi-nofilter-mask` | `multi-nofilter-mask-tis` |",
                       "| `baseline` | void-turn filter |", "## Where the gradient sits", "## Verdict"] {
            XCTAssertTrue(md.contains(needle), "REPORT.md lacks \(needle)")
        }
        let csv = try String(contentsOf: runner.outDir.appendingPathComponent("phases.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 1 + 4)
        var again = 0
        _ = try await runner.run(executor: pool) { _, _ in again += 1 }
        XCTAssertEqual(again, 0, "finished runs are reused")
        XCTAssertEqual(try runner.finished().count, 2)
    }
}

/// The instability experiment on a real architecture: SimpleTIR's setup for real models (tiny Qwen2 fixture,
/// arithmetic tasks in the chat format, bf16 sampler), its base probe per turn, the trend columns, and
/// `tir experiment instability --probe` writing PROBE.md and reusing its measurements.
final class RealModelExperimentTests: XCTestCase {
    func testRealModelSweepRunsSimpleTIRsSetup() async throws {
        let pool = try testSandbox(for: "sweep")
        defer { pool.shutdown() }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-real-sweep-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var s = InstabilitySweep.realStandard(steps: 2, seeds: 1)
        s.conditions[0].arms = Array(s.conditions[0].arms.prefix(2))       // naive, void-turn filter
        s.shared.promptsPerStep = 2; s.shared.groupSize = 2; s.shared.miniBatches = 2
        s.shared.rollout.maxTurnTokens = 12; s.shared.rollout.maxTrajectoryTokens = 40
        let runner = try SweepRunner(sweep: s, outDir: root, bases: [nil: tinyQwen2Fixture])
        let results = try await runner.run(executor: pool).results
        XCTAssertEqual(results.count, 1)
        let r = results[0]
        XCTAssertEqual(r.runs.count, 2)
        for run in r.runs {
            let c = try GRPOConfig.load(json: Data(contentsOf: run.dir.appendingPathComponent("config.json")))
            XCTAssertEqual(c.rollout.observationStyle, .simpletir)
            XCTAssertEqual(c.rollout.answerRule, .lastNumber)
            XCTAssertEqual(c.rolloutWeights, .bf16)
            XCTAssertTrue(c.correction.recomputeOldLogProbs)
            XCTAssertEqual(c.rollout.sampling.temperature, 1)
            XCTAssertEqual(run.metrics.count, 2)
        }
        let probe = try XCTUnwrap(r.probe)
        XCTAssertEqual(probe.trajectories, 4)
        XCTAssertEqual(probe.sampler, "bf16 weights, bf16 KV cache")
        let md = try String(contentsOf: SweepReport(results: results, sweep: s, outDir: root).write(), encoding: .utf8)
        for needle in ["## Preconditions of each condition's base", "| `lastnumber-fast` | 0 | 4 |", "| `lastnumber-fast` | `multi-nofilter-mask` |"] {
            XCTAssertTrue(md.contains(needle), "REPORT.md lacks \(needle)")
        }
        let header = try String(contentsOf: root.appendingPathComponent("phases.csv"), encoding: .utf8).split(separator: "\n")[0]
        XCTAssertTrue(header.contains("trend_ratio,trend_rho,grows"), String(header))
    }

    func testProbeCommandWritesAndReuses() throws {
        guard let tir = builtTir() else { throw XCTSkip("the tir executable is not built next to the tests") }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("tir-probe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let args = ["experiment", "instability", "--probe", "--checkpoint", tinyQwen2Fixture.path, "--out", out.path,
                    "--set", "promptsPerStep=2", "--set", "groupSize=2", "--set", "rollout.maxTurnTokens=12",
                    "--set", "rollout.maxTrajectoryTokens=40"]
        let text = try runTir(tir, ranks: 1, args)
        XCTAssertTrue(text.contains("probing tiny-qwen2 in torl's format"), text)
        let md = try String(contentsOf: out.appendingPathComponent("PROBE.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("| torl | 4 |") && md.contains("| simpletir | 4 |"), md)
        let first = try Data(contentsOf: out.appendingPathComponent("probe-simpletir.json"))
        let text2 = try runTir(tir, ranks: 1, args)
        XCTAssertFalse(text2.contains("probing"), "a second run reuses the measurements: \(text2)")
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("probe-simpletir.json")), first)
        // A missing model is an error naming it, never a pretraining run.
        let err = try runTir(tir, ranks: 1, ["experiment", "instability", "--probe", "--checkpoint",
                                             out.appendingPathComponent("none.gguf").path, "--out", out.path], expectSuccess: false)
        XCTAssertTrue(err.contains("no model at"), err)
    }
}
