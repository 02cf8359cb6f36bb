import Foundation
import XCTest
import GRPO
import Training

/// Issue 12 item 5 and item 2: `tir train --data FILE.jsonl` trains on a user's tasks with a held-out part
/// evaluated at the end; a malformed file names its line; `tir eval --checkpoint RUN` evaluates under the run's
/// own limits unless a flag overrides them.
final class TrainDataTests: XCTestCase {
    let fm = FileManager.default

    func tir(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        guard let exe = builtTir() else { throw XCTSkip("the tir executable is not built next to the tests") }
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let stderr = String(decoding: e, as: UTF8.self)
        if p.terminationStatus != 0 && stderr.contains("sandbox") && !stderr.contains(".jsonl") {
            throw XCTSkip("the sandbox cannot start on this machine: \(stderr)")
        }
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), stderr)
    }

    func testTrainOnAJSONLFileThenEvaluateTheRunUnderItsLimits() throws {
        let root = fm.temporaryDirectory.appendingPathComponent("tir-data-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        let base = root.appendingPathComponent("base"), run = root.appendingPathComponent("run")
        try makeTinyBase(base)
        let data = root.appendingPathComponent("tasks.jsonl")
        let lines = (1...20).map { i in #"{"question": "What is \#(i) + \#(i)?", "answer": "\#(2 * i)"}"# }
        try Data(lines.joined(separator: "\n").utf8).write(to: data)

        let train = try tir(["train", "--checkpoint", base.path, "--out", run.path, "--data", data.path,
                             "--set", "steps=2", "--set", "promptsPerStep=2", "--set", "groupSize=2", "--set", "miniBatches=1",
                             "--set", "rollout.maxToolCalls=1", "--set", "rollout.maxTurnTokens=24",
                             "--set", "rollout.maxTrajectoryTokens=48", "--set", "sandbox.workers=1", "--eval-tasks", "5"])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("18 tasks from \(data.path) (2 held out)"), train.stderr)
        let config = try XCTUnwrap(try GRPORun.savedConfig(run))
        XCTAssertEqual(config.tasks.data, data.path)
        XCTAssertEqual(try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").count, 2)
        let eval = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("eval.json"))) as! [String: Any]
        XCTAssertEqual(eval["tasks"] as? Int, 2, "the two held-out tasks")

        // The run is never overwritten; --resume alone takes its saved settings (here: nothing left to do).
        let again = try tir(["train", "--checkpoint", base.path, "--out", run.path, "--data", data.path])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("already holds a GRPO run (checkpoint at step 2): pass --resume"), again.stderr)
        let resumed = try tir(["train", "--out", run.path, "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let changed = try tir(["train", "--checkpoint", base.path, "--out", run.path, "--resume", "--set", "optimizer.lr=1e-3"])
        XCTAssertTrue(changed.stderr.contains("different configuration (optimizer.lr: 0.0002 -> 0.001)"), changed.stderr)

        // The run's limits (24 tokens per turn) unless --set says otherwise (8).
        func meanLength(_ extra: [String]) throws -> Double {
            let r = try tir(["eval", "--checkpoint", run.path, "--samples", "2", "--json"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            XCTAssertEqual(report["tasks"] as? Int, 2)
            return try XCTUnwrap(report["meanLength"] as? Double)
        }
        let own = try meanLength([])
        XCTAssertLessThanOrEqual(own, 48)
        XCTAssertGreaterThan(own, 8, "a barely trained policy writes up to the turn limit")
        XCTAssertLessThanOrEqual(try meanLength(["--set", "rollout.maxTurnTokens=8"]), 8)

        // A malformed file is refused before anything runs, naming the line.
        try Data((lines.prefix(3) + [#"{"question": "What is 1?""#]).joined(separator: "\n").utf8).write(to: data)
        let bad = try tir(["train", "--checkpoint", base.path, "--out", root.appendingPathComponent("bad").path, "--data", data.path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("tasks.jsonl:4: not a valid JSON object"), bad.stderr)
        XCTAssertFalse(fm.fileExists(atPath: root.appendingPathComponent("bad").path))
    }

    /// Issue 22: a GSM8K-form file ("#### N" answers) trains a real architecture (the tiny Qwen2 fixture, BPE and
    /// ChatML) and its run is evaluated; metrics keys keep their "/"; a directory that holds files but no run
    /// is refused without --force, and --force keeps the files that are not the run's.
    func testGSM8KFormFileOnARealArchitectureAndTheOverwriteRefusal() throws {
        let root = fm.temporaryDirectory.appendingPathComponent("tir-gsm8k-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        let base = tinyQwen2Fixture
        let data = root.appendingPathComponent("gsm8k.jsonl")
        let lines = (1...10).map { i in #"{"question": "Tom has \#(i) boxes of 3 pens. How many pens?", "answer": "\#(i) * 3 = <<\#(i)*3=\#(3 * i)>>\#(3 * i)\n#### \#(3 * i)"}"# }
        try Data(lines.joined(separator: "\n").utf8).write(to: data)
        let settings = ["--set", "steps=1", "--set", "promptsPerStep=2", "--set", "groupSize=2", "--set", "miniBatches=1",
                        "--set", "rollout.maxToolCalls=1", "--set", "rollout.maxTurnTokens=12", "--set", "rollout.maxTrajectoryTokens=24",
                        "--set", "sandbox.workers=1", "--set", "tasks.heldOutFraction=0.2"]

        let run = root.appendingPathComponent("run")
        let train = try tir(["train", "--checkpoint", base.path, "--out", run.path, "--data", data.path, "--eval-tasks", "2"] + settings)
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("8 tasks from \(data.path) (2 held out)"), train.stderr)
        let metrics = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        XCTAssertTrue(metrics.contains(#""actor/grad_norm":"#), "keys are written as named: \(metrics.prefix(200))")
        XCTAssertFalse(metrics.contains(#"\/"#))
        let eval = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("eval.json"))) as! [String: Any]
        XCTAssertEqual(eval["tasks"] as? Int, 2)
        let checkpoint = try XCTUnwrap(try RunDirectory(run, settings: "config.json").latestCheckpoint())
        XCTAssertTrue(fm.fileExists(atPath: checkpoint.appendingPathComponent("tokenizer_config.json").path),
                      "a real model's checkpoint carries its tokenizer and chat template")

        // A directory with someone else's metrics.jsonl and notes: refused, untouched; --force writes the run there.
        let other = root.appendingPathComponent("other")
        try fm.createDirectory(at: other, withIntermediateDirectories: true)
        try Data("{\"step\":1,\"mine\":1}\n".utf8).write(to: other.appendingPathComponent("metrics.jsonl"))
        try Data("notes".utf8).write(to: other.appendingPathComponent("notes.txt"))
        let refused = try tir(["train", "--checkpoint", base.path, "--out", other.path, "--data", data.path] + settings)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("is not empty (metrics.jsonl, notes.txt)"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--force"), refused.stderr)
        XCTAssertEqual(try String(contentsOf: other.appendingPathComponent("metrics.jsonl"), encoding: .utf8), "{\"step\":1,\"mine\":1}\n")
        XCTAssertEqual(Set(try fm.contentsOfDirectory(atPath: other.path)), ["metrics.jsonl", "notes.txt"])
        let forced = try tir(["train", "--checkpoint", base.path, "--out", other.path, "--data", data.path, "--force"] + settings)
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(fm.fileExists(atPath: other.appendingPathComponent("notes.txt").path))
        XCTAssertFalse(try String(contentsOf: other.appendingPathComponent("metrics.jsonl"), encoding: .utf8).contains("mine"))
    }
}
