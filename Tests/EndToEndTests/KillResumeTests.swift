import Foundation
import XCTest
@testable import GRPO
import Model
import Training

/// Issue 6: a `tir train` run killed with SIGKILL mid-run resumes from its last checkpoint and ends exactly
/// where an uninterrupted run ends (same metrics apart from timings, bit-identical weights).
final class KillResumeTests: XCTestCase {
    /// The `tir` executable built next to this test bundle (`swift build --build-tests` builds it).
    var tirURL: URL? {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let u = candidate.appendingPathComponent("tir")
            if FileManager.default.isExecutableFile(atPath: u.path) { return u }
        }
        return nil
    }

    func launch(_ tir: URL, _ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = tir
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    func metricLines(_ dir: URL) -> [String] {
        guard let text = try? String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init)
    }

    /// A metrics line without its wall-clock fields.
    func withoutTimings(_ line: String) throws -> [String: Double] {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        var out: [String: Double] = [:]
        for (k, v) in object where !MetricNames.isTiming(k) { out[k] = (v as? NSNumber)?.doubleValue }
        return out
    }

    func testKilledTrainRunResumesExactly() throws {
        guard let tir = tirURL else { throw XCTSkip("the tir executable is not built next to the tests") }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-kill-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let base = root.appendingPathComponent("base")
        try makeTinyBase(base)

        let steps = 8
        func args(_ out: URL, resume: Bool = false) -> [String] {
            ["train", "--checkpoint", base.path, "--out", out.path,
             "--set", "steps=\(steps)", "--set", "promptsPerStep=2", "--set", "groupSize=4", "--set", "miniBatches=1",
             "--set", "microBatch=8", "--set", "maxToolCalls=1", "--set", "maxTurnTokens=24",
             "--set", "maxTrajectoryTokens=64", "--set", "checkpointEvery=1", "--set", "lr=1e-2"] + (resume ? ["--resume"] : [])
        }

        // Reference: one uninterrupted run.
        let whole = root.appendingPathComponent("whole")
        let ref = try launch(tir, args(whole))
        ref.waitUntilExit()
        XCTAssertEqual(ref.terminationStatus, 0)
        let refLines = metricLines(whole)
        XCTAssertEqual(refLines.count, steps)

        // The same run, SIGKILLed once a few steps are logged, then resumed.
        let killed = root.appendingPathComponent("killed")
        let victim = try launch(tir, args(killed))
        let deadline = Date().addingTimeInterval(120)
        while metricLines(killed).count < 3 && victim.isRunning && Date() < deadline { usleep(2_000) }
        XCTAssertTrue(victim.isRunning, "the run ended before it could be killed")
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        XCTAssertLessThan(metricLines(killed).count, steps)

        let resumed = try launch(tir, args(killed, resume: true))
        resumed.waitUntilExit()
        XCTAssertEqual(resumed.terminationStatus, 0)
        let lines = metricLines(killed)
        XCTAssertEqual(lines.count, steps)
        for (a, b) in zip(lines, refLines) { XCTAssertEqual(try withoutTimings(a), try withoutTimings(b)) }
        let weights = "checkpoint/model.safetensors"
        XCTAssertEqual(try Data(contentsOf: killed.appendingPathComponent(weights)),
                       try Data(contentsOf: whole.appendingPathComponent(weights)))
    }
}
