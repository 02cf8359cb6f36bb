import XCTest
import Model
import Rollout
import Tensor
import ToyWorld
import Training
@testable import GRPO

/// Rewards even-length responses: varied, deterministic signal from a tiny untrained policy.
struct EvenLengthReward: RewardScheme {
    var name: String { "even-length" }
    func reward(_ input: RewardInput) -> Float { input.responseTokens % 2 == 0 ? 1 : -1 }
}

final class TrainerResumeTests: XCTestCase {
    /// A tiny policy whose EOS is likely, so response lengths (and rewards) vary.
    func tinyBase(_ dir: URL) throws {
        let p = try Policy(config: PolicyConfig(dim: 16, layers: 1, heads: 2, ffn: 24, context: 96), seed: 11)
        let eos = p.arena.data + Int(ByteTokenizer.eos) * 16     // tied head: a large EOS row makes EOS common
        for j in 0..<16 { eos[j] = 1 }
        try Checkpoint.save(p, to: dir)
    }

    func config() -> GRPOConfig {
        var c = GRPOConfig()
        c.steps = 3; c.promptsPerStep = 2; c.groupSize = 4; c.miniBatches = 2; c.microBatch = 2
        c.rollout.maxTurnTokens = 10; c.rollout.maxTrajectoryTokens = 10; c.filter.voidTurns = false
        c.checkpointEvery = 1; c.optimizer.lr = 2e-3; c.seed = 5
        return c
    }

    /// The same metrics (timings aside) and bit-identical final weights.
    func assertSameRun(_ a: [[String: Double]], _ b: [[String: Double]], _ dirA: URL, _ dirB: URL,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) {
            for (k, v) in x where !MetricNames.isTiming(k) {
                XCTAssertEqual(v, y[k], "\(k) at step \(x["step"]!)", file: file, line: line)
            }
        }
        let pa = try loadPolicy(dirA), pb = try loadPolicy(dirB)
        XCTAssertEqual(memcmp(pa.arena.data, pb.arena.data, pa.arena.count * 4), 0, "weights differ", file: file, line: line)
    }

    func testResumedRunContinuesExactly() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-resume-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let base = root.appendingPathComponent("base")
        try tinyBase(base)
        let tasks = ToyWorld(seed: 1).trainSource
        let full = GRPORun(config: config(), dir: root.appendingPathComponent("full"))
        let a = try await full.run(base: base, tasks: tasks, executor: nil, start: .new, reward: EvenLengthReward()) { _ in }
        XCTAssertEqual(a.count, 3)
        XCTAssertTrue(a.allSatisfy { ($0["tir/score_std"] ?? 0) > 0 && ($0["actor/grad_norm"] ?? 0) > 0 },
                      "every step needs reward signal and a gradient for this test to mean anything")

        // Interrupted after step 1, then resumed: identical metrics (times aside) and identical weights.
        let split = GRPORun(config: config(), dir: root.appendingPathComponent("split"))
        _ = try await split.run(base: base, tasks: tasks, executor: nil, start: .new, reward: EvenLengthReward(), stopAfter: 1) { _ in }
        // A torn line from a killed run must not survive the resume.
        let h = try FileHandle(forWritingTo: split.metricsURL)
        h.seekToEndOfFile(); h.write(Data("{\"step\": 2, \"rew".utf8)); try h.close()
        let b = try await split.run(base: base, tasks: tasks, executor: nil, start: .resume, reward: EvenLengthReward()) { _ in }
        XCTAssertEqual(b.count, 3)
        try assertSameRun(a, b, full.dir, split.dir)
    }

    /// Issue 12: with a KL penalty, the resumed run's reference is the base policy, not the resumed weights.
    func testResumedRunWithKLEqualsTheUninterruptedOne() async throws {
        try await assertResumeIsExact(kl: 0.5, checkpointEvery: 1)
    }

    /// A run killed before its first checkpoint resumes from the base, its metrics cut to nothing.
    func testRunWithoutCheckpointResumesFromTheBase() async throws {
        try await assertResumeIsExact(kl: 0, checkpointEvery: 0)
    }

    func assertResumeIsExact(kl: Float, checkpointEvery: Int) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-resume-kl-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let base = root.appendingPathComponent("base")
        try tinyBase(base)
        var c = config()
        c.kl.beta = kl
        c.checkpointEvery = checkpointEvery
        let tasks = ToyWorld(seed: 1).trainSource
        let full = GRPORun(config: c, dir: root.appendingPathComponent("full"))
        let a = try await full.run(base: base, tasks: tasks, executor: nil, start: .new, reward: EvenLengthReward()) { _ in }
        let split = GRPORun(config: c, dir: root.appendingPathComponent("split"))
        _ = try await split.run(base: base, tasks: tasks, executor: nil, start: .new, reward: EvenLengthReward(), stopAfter: 2) { _ in }
        XCTAssertEqual(try split.readMetrics().count, 2)
        XCTAssertEqual(try split.latestCheckpoint() == nil, checkpointEvery == 0)
        let b = try await split.run(base: base, tasks: tasks, executor: nil, start: .resume, reward: EvenLengthReward()) { _ in }
        XCTAssertEqual(b.count, 3)
        try assertSameRun(a, b, full.dir, split.dir)
    }

    /// A run written before versioned checkpoints (flat config.json, one `checkpoint/` directory, no base.txt)
    /// resumes and ends where the uninterrupted run ends; its old checkpoint is replaced by versioned ones.
    func testOldLayoutRunResumesExactly() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-resume-old-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        let base = root.appendingPathComponent("base")
        try tinyBase(base)
        let tasks = ToyWorld(seed: 1).trainSource
        let full = GRPORun(config: config(), dir: root.appendingPathComponent("full"))
        let a = try await full.run(base: base, tasks: tasks, executor: nil, start: .new, reward: EvenLengthReward()) { _ in }
        let old = GRPORun(config: config(), dir: root.appendingPathComponent("old"))
        _ = try await old.run(base: base, tasks: tasks, executor: nil, start: .new, reward: EvenLengthReward(), stopAfter: 1) { _ in }
        // Rewrite it into the old layout.
        let flat = try oldFlatJSON(config())
        try fm.moveItem(at: try XCTUnwrap(old.latestCheckpoint()), to: old.dir.appendingPathComponent("checkpoint"))
        for f in ["latest", "base.txt"] { try fm.removeItem(at: old.dir.appendingPathComponent(f)) }
        try Data(flat.utf8).write(to: old.dir.appendingPathComponent("config.json"))
        let stateURL = old.dir.appendingPathComponent("checkpoint/trainer_state.json")
        var state = try JSONDecoder().decode(TrainerState.self, from: Data(contentsOf: stateURL))
        state.configJSON = flat
        try JSONEncoder().encode(state).write(to: stateURL)

        let b = try await old.run(base: base, tasks: tasks, executor: nil, start: .resume, reward: EvenLengthReward()) { _ in }
        XCTAssertEqual(b.count, 3)
        try assertSameRun(a, b, full.dir, old.dir)
        XCTAssertFalse(fm.fileExists(atPath: old.dir.appendingPathComponent("checkpoint").path))
    }

    func testResumeRefusesADifferentConfig() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-resume2-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let base = root.appendingPathComponent("base")
        try tinyBase(base)
        var c = config(); c.steps = 1
        _ = try await GRPORun(config: c, dir: root.appendingPathComponent("run")).run(
            base: base, tasks: ToyWorld(seed: 1).trainSource, executor: nil, start: .new, reward: EvenLengthReward()) { _ in }
        c.optimizer.lr = 1e-3
        do {
            _ = try await GRPORun(config: c, dir: root.appendingPathComponent("run")).run(
                base: base, tasks: ToyWorld(seed: 1).trainSource, executor: nil, start: .resume, reward: EvenLengthReward()) { _ in }
            XCTFail("resuming with another configuration must fail")
        } catch {
            XCTAssertTrue("\(error)".contains("different configuration (optimizer.lr: 0.002 -> 0.001)"), "\(error)")
        }
    }

    /// Skipping trajectories without gradient (zero advantage, fully masked) leaves the update unchanged.
    func testSkippingZeroAdvantageTrajectoriesGivesTheSameUpdate() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-skip-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let base = root.appendingPathComponent("base")
        try tinyBase(base)
        var weights: [[Float]] = []
        var computed: [Double] = []
        for skip in [false, true] {
            var c = config(); c.steps = 2; c.promptsPerStep = 4; c.skipZeroAdvantage = skip
            let run = GRPORun(config: c, dir: root.appendingPathComponent("skip-\(skip)"))
            let m = try await run.run(base: base, tasks: ToyWorld(seed: 1).trainSource, executor: nil, start: .new,
                                      reward: EvenLengthReward()) { _ in }
            computed.append(m.map { $0["tir/computed_fraction"]! }.reduce(0, +))
            let p = try loadPolicy(run.dir)
            weights.append(Array(UnsafeBufferPointer(start: p.arena.data, count: p.arena.count)))
        }
        XCTAssertLessThan(computed[1], computed[0], "some group should have had no reward signal")
        for (a, b) in zip(weights[0], weights[1]) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(a))) }
    }
}
