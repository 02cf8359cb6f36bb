import Foundation
import XCTest
import Training

/// `mpirun -np 2 tir experiment instability --sweep`: the ranks share the runs, a killed rank ends the job,
/// rerunning the same command finishes it, and every run's metrics equal those of one process.
final class DistributedSweepTests: XCTestCase {
    let fm = FileManager.default

    func sweep(_ tir: URL, ranks: Int, base: URL, out: URL, expectSuccess: Bool = true,
               whileRunning: ((Process) throws -> Void)? = nil) throws -> String {
        let args = ["experiment", "instability", "--sweep", "--quick", "--conditions", "baseline,bf16", "--steps", "4",
                    "--base", base.path, "--out", out.path,
                    "--set", "promptsPerStep=2", "--set", "groupSize=2", "--set", "miniBatches=1", "--set", "microBatch=4",
                    "--set", "rollout.maxTurnTokens=24", "--set", "rollout.maxTrajectoryTokens=64",
                    "--set", "checkpointEvery=1", "--set", "sandbox.workers=1"]
        return try runTir(tir, ranks: ranks, args, expectSuccess: expectSuccess, whileRunning: whileRunning)
    }

    /// The run directories of a sweep's output (conditions/<c>/arms/<arm>/seed-<k>), relative to it.
    func runDirs(_ out: URL) throws -> [String] {
        let conditions = out.appendingPathComponent("conditions")
        return try fm.contentsOfDirectory(atPath: conditions.path).sorted().flatMap { c in
            try fm.contentsOfDirectory(atPath: conditions.appendingPathComponent(c).appendingPathComponent("arms").path).sorted()
                .map { "conditions/\(c)/arms/\($0)/seed-1" }
        }
    }

    func testRanksShareTheSweepAKilledRankEndsItAndARerunFinishesItEqualToOneProcess() throws {
        let tir = try XCTUnwrap(builtTir(), "build tir first: swift build --build-tests")
        let root = fm.temporaryDirectory.appendingPathComponent("tir-dsweep-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        let base = root.appendingPathComponent("base"), one = root.appendingPathComponent("one")
        let two = root.appendingPathComponent("two")
        try makeTinyBase(base)
        _ = try sweep(tir, ranks: 1, base: base, out: one)
        let runs = try runDirs(one)
        XCTAssertEqual(runs.count, 3 + 5, "baseline has 3 arms, bf16 5")

        // Kill rank 1 once some run has a checkpoint: mpirun ends the job and names the rank.
        let killed = try sweep(tir, ranks: 2, base: base, out: two, expectSuccess: false) { _ in
            let deadline = Date().addingTimeInterval(120)
            func checkpointed() -> Bool {
                runs.contains { self.fm.fileExists(atPath: two.appendingPathComponent($0).appendingPathComponent(RunDirectory.pointerName).path) }
            }
            while !checkpointed(), Date() < deadline { usleep(20_000) }
            guard let pid = rankPid(1, of: tir) else { return XCTFail("rank 1 not found") }
            kill(pid, SIGKILL)
        }
        XCTAssertTrue(killed.contains("rank 1") || killed.contains("signal 9"), killed)
        XCTAssertFalse(fm.fileExists(atPath: two.appendingPathComponent("REPORT.md").path), "no report before every run is done")
        // Runs that finished before the kill must be reused, not trained again.
        var finishedBefore: [String: Date] = [:]
        for run in runs {
            let metrics = two.appendingPathComponent(run).appendingPathComponent("metrics.jsonl")
            if (try? untimedMetrics(two.appendingPathComponent(run)))?.count == 4 {
                finishedBefore[run] = try fm.attributesOfItem(atPath: metrics.path)[.modificationDate] as? Date
            }
        }

        let log = try sweep(tir, ranks: 2, base: base, out: two)
        for r in 0..<2 {
            XCTAssertNotNil(log.range(of: "rank \(r) of 2: did [1-9][0-9]* of the runs", options: .regularExpression), "rank \(r) did nothing: \(log)")
        }
        for (run, date) in finishedBefore {
            let metrics = two.appendingPathComponent(run).appendingPathComponent("metrics.jsonl")
            XCTAssertEqual(try fm.attributesOfItem(atPath: metrics.path)[.modificationDate] as? Date, date, "\(run) was trained again")
        }
        XCTAssertTrue(fm.fileExists(atPath: two.appendingPathComponent("REPORT.md").path))
        XCTAssertEqual(try runDirs(two), runs)
        for run in runs {
            let a = try untimedMetrics(one.appendingPathComponent(run)), b = try untimedMetrics(two.appendingPathComponent(run))
            XCTAssertEqual(a.count, 4, run)
            XCTAssertEqual(a, b, "\(run): 2 ranks (killed, then rerun) differ from one process")
        }
        XCTAssertEqual(try Data(contentsOf: one.appendingPathComponent("conditions/bf16/base_probe.json")),
                       try Data(contentsOf: two.appendingPathComponent("conditions/bf16/base_probe.json")))
    }

    /// The plain experiment (arms x seeds, no sweep) under mpirun: the same runs as one process, and a second
    /// invocation needs --resume, which then trains nothing.
    func testTwoRanksShareThePlainExperiment() throws {
        let tir = try XCTUnwrap(builtTir(), "build tir first: swift build --build-tests")
        let root = fm.temporaryDirectory.appendingPathComponent("tir-dexp-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        let base = root.appendingPathComponent("base")
        try makeTinyBase(base)
        func experiment(_ ranks: Int, _ out: URL, _ extra: [String] = [], expectSuccess: Bool = true) throws -> String {
            try runTir(tir, ranks: ranks, ["experiment", "instability", "--quick", "--steps", "3", "--seeds", "2", "--base", base.path,
                                           "--out", out.path, "--set", "promptsPerStep=2", "--set", "groupSize=2",
                                           "--set", "microBatch=4", "--set", "rollout.maxTurnTokens=24",
                                           "--set", "rollout.maxTrajectoryTokens=64", "--set", "sandbox.workers=1"] + extra,
                       expectSuccess: expectSuccess)
        }
        let one = root.appendingPathComponent("one"), two = root.appendingPathComponent("two")
        _ = try experiment(1, one)
        let log = try experiment(2, two)
        XCTAssertTrue(log.contains("rank 1 of 2: did"), log)
        let arms = try fm.contentsOfDirectory(atPath: one.appendingPathComponent("arms").path).sorted()
        XCTAssertEqual(arms.count, 5)
        for arm in arms {
            for seed in 1...2 {
                let run = "arms/\(arm)/seed-\(seed)"
                XCTAssertEqual(try untimedMetrics(one.appendingPathComponent(run)), try untimedMetrics(two.appendingPathComponent(run)), run)
            }
        }
        XCTAssertTrue(fm.fileExists(atPath: two.appendingPathComponent("REPORT.md").path))
        let refused = try experiment(2, two, expectSuccess: false)
        XCTAssertTrue(refused.contains("already holds an experiment"), refused)
        let again = try experiment(2, two, ["--resume"])
        XCTAssertTrue(again.contains("rank 0 of 2: did 0 of the runs and base probes, found 10 done"), again)
    }
}
