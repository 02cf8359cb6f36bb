import Foundation
import XCTest
import GRPO
import Training

/// Issue 14: a small `tir train` run SIGKILLed at 20+ seeded random moments (process start, before the first
/// checkpoint, inside checkpoint writes, between metrics and checkpoint) and resumed after each kill ends
/// byte-identical to an uninterrupted run: the same metrics apart from their timing fields, the same files in
/// the run directory and the same bytes in every checkpoint file.
final class KillChaosTests: XCTestCase {
    var steps = 16
    /// Settings beyond the shared ones (the real-architecture run's tasks and answer rule).
    var extra: [String] = []
    let pauseMS = 25
    let fm = FileManager.default

    func launch(_ tir: URL, _ args: [String], stderr: URL? = nil) throws -> Process {
        let p = Process()
        p.executableURL = tir
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["TIR_TEST_CHECKPOINT_PAUSE_MS"] = "\(pauseMS)"   // widens each checkpoint commit (4 pauses) for the kills aimed at it
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        if let stderr {
            _ = fm.createFile(atPath: stderr.path, contents: nil)
            p.standardError = try FileHandle(forWritingTo: stderr)
        } else {
            p.standardError = FileHandle.nullDevice
        }
        try p.run()
        return p
    }

    func args(base: URL, out: URL, resume: Bool) -> [String] {
        ["train", "--checkpoint", base.path, "--out", out.path,
         "--set", "steps=\(steps)", "--set", "promptsPerStep=2", "--set", "groupSize=4", "--set", "miniBatches=1",
         "--set", "microBatch=8", "--set", "rollout.maxToolCalls=1", "--set", "rollout.maxTurnTokens=24",
         "--set", "rollout.maxTrajectoryTokens=64", "--set", "checkpointEvery=1", "--set", "keepCheckpoints=2",
         "--set", "optimizer.lr=1e-2", "--set", "kl.beta=0.1", "--set", "sandbox.workers=1"] + extra + (resume ? ["--resume"] : [])
    }

    func metricLines(_ dir: URL) -> [String] {
        guard let text = try? String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// A metrics line with its wall-clock fields cut out (keys are sorted, so the rest keeps its bytes).
    func withoutTimings(_ line: String) -> String {
        line.replacingOccurrences(of: #","?"(tir\\?/)?timing_s\\?/[a-z_]+":[^,}]*"#, with: "", options: .regularExpression)
    }

    func entries(_ dir: URL) -> Set<String> { Set((try? fm.contentsOfDirectory(atPath: dir.path)) ?? []) }

    /// Where a kill landed, judged from what it left on disk that was not there before the process started.
    func stage(_ dir: URL, before: Set<String>) -> String {
        let names = entries(dir)
        guard names.contains("config.json") else { return "before the run existed" }
        let committed = (try? RunDirectory(dir, settings: "config.json").latestCheckpoint()).flatMap { $0 }
        let committedStep = committed.flatMap { checkpointStep($0.lastPathComponent) } ?? 0
        let new = names.subtracting(before)
        if new.contains(where: { $0.hasPrefix(".tmp-") }) || new.compactMap(checkpointStep).contains(where: { $0 > committedStep }) {
            return "inside a checkpoint write"
        }
        let lines = metricLines(dir)
        if let last = lines.last, !last.isEmpty { return "inside a metrics write (torn line)" }
        if committed == nil { return "before the first checkpoint" }
        return lines.filter { !$0.isEmpty }.count > committedStep ? "after a metrics line, before its checkpoint"
                                                                  : "between checkpoints"
    }

    func checkpointStep(_ name: String) -> Int? {
        name.hasPrefix("checkpoint-") ? Int(name.dropFirst("checkpoint-".count)) : nil
    }

    func testRunKilledAtRandomMomentsEndsByteIdentical() throws {
        let root = fm.temporaryDirectory.appendingPathComponent("tir-chaos-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        let base = root.appendingPathComponent("base")
        try makeTinyBase(base)
        try killedRunEndsByteIdentical(base: base, root: root, kills: 24)
    }

    /// The same for a real architecture with a BPE tokenizer and a chat template (the tiny Qwen2 fixture, on the
    /// built-in arithmetic tasks): its checkpoints are Hugging Face directories with the tokenizer files.
    func testRealArchitectureRunKilledAtRandomMomentsEndsByteIdentical() throws {
        let root = fm.temporaryDirectory.appendingPathComponent("tir-chaos-qwen-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        let base = tinyQwen2Fixture
        // One-digit answers read as the last number written: the random tiny model gets some right, so groups
        // have reward signal and the weights move.
        let data = root.appendingPathComponent("digits.jsonl")
        try Data((0..<10).map { #"{"question": "\#($0)?", "answer": "\#($0)"}"# }.joined(separator: "\n").utf8).write(to: data)
        steps = 8
        extra = ["--data", data.path, "--set", "rollout.answerRule=lastNumber", "--set", "rollout.instruction=Answer.",
                 "--set", "tasks.heldOutFraction=0", "--set", "filter.voidTurns=false"]
        try killedRunEndsByteIdentical(base: base, root: root, kills: 8)
        let whole = root.appendingPathComponent("whole")
        let grads = MetricsLog.read(whole.appendingPathComponent("metrics.jsonl")).compactMap { $0["actor/grad_norm"] }
        XCTAssertTrue(grads.contains { $0 > 0 }, "the run updated its weights: \(grads)")
        let checkpoint = try XCTUnwrap(try RunDirectory(root.appendingPathComponent("killed"), settings: "config.json").latestCheckpoint())
        XCTAssertTrue(fm.fileExists(atPath: checkpoint.appendingPathComponent("tokenizer.json").path))
    }

    /// Runs `base` uninterrupted, then again with `kills` SIGKILLs at seeded random moments (each followed by
    /// --resume), and compares the two run directories byte for byte.
    func killedRunEndsByteIdentical(base: URL, root: URL, kills wanted: Int) throws {
        guard let tir = builtTir() else { throw XCTSkip("the tir executable is not built next to the tests") }
        let began = Date()

        // Reference: one uninterrupted run, timed (process start to first metrics line, then per step).
        let whole = root.appendingPathComponent("whole")
        let log = root.appendingPathComponent("whole.log")
        let t0 = Date()
        let ref = try launch(tir, args(base: base, out: whole, resume: false), stderr: log)
        var firstLine: Double?
        while ref.isRunning {
            if firstLine == nil && metricLines(whole).count > 1 { firstLine = Date().timeIntervalSince(t0) }
            usleep(2_000)
        }
        let total = Date().timeIntervalSince(t0)
        let message = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        if ref.terminationStatus != 0 && message.contains("sandbox") {
            throw XCTSkip("the sandbox cannot start on this machine: \(message)")
        }
        XCTAssertEqual(ref.terminationStatus, 0, message)
        let refLines = metricLines(whole)
        XCTAssertEqual(refLines.filter { !$0.isEmpty }.count, steps)
        let startup = firstLine ?? total / 2
        let stepTime = max(0.01, (total - startup) / Double(steps - 1))

        // Chaos: every other process is killed at a seeded random moment in [0, startup + half a step), the others at a
        // seeded random moment inside their first checkpoint commit; each kill is followed by a resume.
        let killed = root.appendingPathComponent("killed")
        var rng: UInt64 = 0x6b69_6c6c   // SplitMix64 state: the kill moments are a function of this seed
        func uniform() -> Double {
            rng &+= 0x9E37_79B9_7F4A_7C15
            var z = rng
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        var stages: [String: Int] = [:]
        var kills = 0, launches = 0
        while kills < wanted {
            let resume = fm.fileExists(atPath: killed.appendingPathComponent("config.json").path)
            let before = entries(killed)
            let p = try launch(tir, args(base: base, out: killed, resume: resume))
            launches += 1
            var deadline = Date().addingTimeInterval(uniform() * (startup + stepTime / 2))
            if launches % 2 == 0 {   // aim at a checkpoint commit: wait for its temporary directory to appear
                let mine = "-\(p.processIdentifier)"
                while p.isRunning && !entries(killed).contains(where: { $0.hasPrefix(".tmp-checkpoint-") && $0.hasSuffix(mine) }) {
                    usleep(300)
                }
                deadline = Date().addingTimeInterval(uniform() * Double(5 * pauseMS) / 1000)
            }
            while p.isRunning && Date() < deadline { usleep(300) }
            guard p.isRunning else {
                p.waitUntilExit()
                XCTAssertEqual(p.terminationStatus, 0, "a resumed run failed after \(kills) kills")
                break    // it finished before this kill
            }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            kills += 1
            stages[stage(killed, before: before), default: 0] += 1
        }
        XCTAssertGreaterThanOrEqual(kills, wanted * 5 / 6, "the run finished after \(kills) kills; the kill window is too wide")
        if fm.fileExists(atPath: killed.appendingPathComponent("config.json").path) {
            let last = try launch(tir, args(base: base, out: killed, resume: true))
            last.waitUntilExit()
            XCTAssertEqual(last.terminationStatus, 0)
        }
        let seconds = Date().timeIntervalSince(began)
        print("kill-chaos: \(kills) kills in \(launches) launches, \(String(format: "%.1f", seconds)) s; uninterrupted run "
              + String(format: "%.2f s (startup %.2f s, %.3f s/step)", total, startup, stepTime) + "; kills landed: "
              + stages.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        XCTAssertGreaterThan(stages["inside a checkpoint write"] ?? 0, 0, "no kill landed inside a checkpoint write: \(stages)")

        // Byte-identical: metrics apart from timings, the directory listing, every other file. The views of
        // the metrics carry wall time (tb/ event files, one per session) or the run's name (curves.svg): they
        // must exist, and are not compared.
        let lines = metricLines(killed)
        XCTAssertEqual(lines.count, refLines.count)
        for (a, b) in zip(lines, refLines) { XCTAssertEqual(withoutTimings(a), withoutTimings(b)) }
        for view in ["tb", "curves.svg"] {
            XCTAssertTrue(fm.fileExists(atPath: killed.appendingPathComponent(view).path), view)
        }
        let listing = { (d: URL) in
            try self.fm.subpathsOfDirectory(atPath: d.path)
                .filter { $0 != ".lock" && $0 != "curves.svg" && $0 != "tb" && !$0.hasPrefix("tb/") }.sorted()
        }
        XCTAssertEqual(try listing(killed), try listing(whole))
        for path in try listing(whole) where path != "metrics.jsonl" {
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: whole.appendingPathComponent(path).path, isDirectory: &isDir)
            if isDir.boolValue { continue }
            XCTAssertEqual(try Data(contentsOf: killed.appendingPathComponent(path)),
                           try Data(contentsOf: whole.appendingPathComponent(path)), path)
        }
    }
}
