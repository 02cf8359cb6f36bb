import Foundation
import XCTest
import Model
import Training

/// `mpirun -np 2 tir train` against one process with the same global batch and seed: the same metrics and
/// weights, and a 2-rank run resumed by 1 process ends where the uninterrupted run ends.
final class DataParallelTests: XCTestCase {
    let fm = FileManager.default

    var tir: URL? { builtTir() }

    /// Runs `tir train` (under mpirun with `ranks` > 1) to completion; returns its combined output.
    @discardableResult
    func train(_ tir: URL, ranks: Int, base: URL, out: URL, steps: Int = 3, extra: [String] = [],
               expectSuccess: Bool = true, whileRunning: ((Process) throws -> Void)? = nil) throws -> String {
        let args = ["train", "--checkpoint", base.path, "--out", out.path,
                    "--set", "steps=\(steps)", "--set", "promptsPerStep=2", "--set", "groupSize=4", "--set", "miniBatches=2",
                    "--set", "microBatch=2", "--set", "rollout.maxToolCalls=1", "--set", "rollout.maxTurnTokens=24",
                    "--set", "rollout.maxTrajectoryTokens=64", "--set", "optimizer.lr=1e-2", "--set", "checkpointEvery=1",
                    "--set", "keepCheckpoints=3", "--set", "sandbox.workers=1", "--set", "kl.beta=0.1"] + extra
        return try runTir(tir, ranks: ranks, args, expectSuccess: expectSuccess, whileRunning: whileRunning)
    }

    func testTwoRanksEqualOneProcessAndResumeWithOne() throws {
        let tir = try XCTUnwrap(self.tir, "build tir first: swift build --build-tests")
        let root = fm.temporaryDirectory.appendingPathComponent("tir-dp-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        let base = root.appendingPathComponent("base")
        try makeTinyBase(base)
        let one = root.appendingPathComponent("one"), two = root.appendingPathComponent("two")
        try train(tir, ranks: 1, base: base, out: one)
        let log = try train(tir, ranks: 2, base: base, out: two)
        XCTAssertTrue(log.contains("data parallel: rank 1 of 2"), log)
        try assertSameRun(one, two)

        // The 2-rank run as a kill right after its second checkpoint would leave it, resumed by one process.
        let latest = two.appendingPathComponent(RunDirectory.pointerName)
        try Data(RunDirectory.checkpointName(step: 2).utf8).write(to: latest)
        try fm.removeItem(at: two.appendingPathComponent(RunDirectory.checkpointName(step: 3)))
        try train(tir, ranks: 1, base: base, out: two, extra: ["--resume"])
        try assertSameRun(one, two)
    }

    /// A rank that dies ends the whole job with an error, and the run resumes from its last checkpoint.
    func testKilledRankEndsTheJobAndTheRunResumes() throws {
        let tir = try XCTUnwrap(self.tir, "build tir first: swift build --build-tests")
        let root = fm.temporaryDirectory.appendingPathComponent("tir-dp-kill-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        let base = root.appendingPathComponent("base"), out = root.appendingPathComponent("run")
        try makeTinyBase(base)
        let log = try train(tir, ranks: 2, base: base, out: out, steps: 12, expectSuccess: false) { _ in
            let deadline = Date().addingTimeInterval(60)   // until the first checkpoint, then kill rank 1
            while !self.fm.fileExists(atPath: out.appendingPathComponent(RunDirectory.pointerName).path), Date() < deadline {
                usleep(20_000)
            }
            guard let pid = rankPid(1, of: tir) else { return XCTFail("rank 1 not found") }
            kill(pid, SIGKILL)
        }
        XCTAssertTrue(log.contains("rank 1") || log.contains("signal 9") || log.contains("Killed"), log)
        let before = try untimedMetrics(out).count
        XCTAssertLessThan(before, 12, "the job went on after a rank died")
        try train(tir, ranks: 2, base: base, out: out, steps: 12, extra: ["--resume"])
        XCTAssertEqual(try untimedMetrics(out).map { $0["step"] ?? 0 }, (1...12).map(Double.init))
    }
}
