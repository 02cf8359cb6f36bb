import XCTest
import Model
import Training

/// Versioned checkpoints, the pointer, recovery after a kill, and the refusals of `RunDirectory.begin`.
final class RunDirectoryTests: XCTestCase {
    var root: URL!

    override func setUp() {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-rundir-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    func names() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).sorted() }

    /// A stand-in checkpoint: just the file `TrainCheckpoint.hasState` looks for.
    func fake(_ step: Int) -> (URL) throws -> Void {
        { try JSONEncoder().encode(TrainerState(step: step, optimizerStep: step, rngState: [1], kind: "grpo", configJSON: "{}"))
            .write(to: $0.appendingPathComponent("trainer_state.json")) }
    }

    func testCommitKeepsTheNewestAndMovesThePointer() throws {
        let run = RunDirectory(root, settings: "config.json", keep: 2)
        XCTAssertNil(try run.latestCheckpoint())
        for s in [10, 20, 30] { try run.commitCheckpoint(step: s, fake(s)) }
        XCTAssertEqual(names(), ["checkpoint-000020", "checkpoint-000030", "latest"])
        XCTAssertEqual(try String(contentsOf: root.appendingPathComponent("latest"), encoding: .utf8), "checkpoint-000030\n")
        XCTAssertEqual(try run.latestCheckpoint()?.lastPathComponent, "checkpoint-000030")
        XCTAssertEqual(try resolveCheckpoint(root).lastPathComponent, "checkpoint-000030")
    }

    /// What a kill leaves at each stage of a commit is undone by `recover`; the pointer's checkpoint stays.
    func testRecoverRemovesWhatAKillLeft() throws {
        let run = RunDirectory(root, settings: "config.json", keep: 3)
        try run.commitCheckpoint(step: 1, fake(1))
        // killed while writing checkpoint 2, after its rename (before the pointer), and inside a pointer swap
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".tmp-checkpoint-000003-77"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("checkpoint-000002"), withIntermediateDirectories: true)
        try Data("checkpoint-000002\n".utf8).write(to: root.appendingPathComponent(".tmp-latest-77"))
        try run.recover()
        XCTAssertEqual(names(), ["checkpoint-000001", "latest"])
        XCTAssertEqual(try run.latestCheckpoint()?.lastPathComponent, "checkpoint-000001")
        // killed before the first pointer: no checkpoint is committed
        try FileManager.default.removeItem(at: root.appendingPathComponent("latest"))
        try run.recover()
        XCTAssertEqual(names(), [])
    }

    /// The old layout's swap renamed `checkpoint/` aside before moving the new one in; a kill in between left
    /// only `.checkpoint.old-PID`. Recovery puts it back.
    func testRecoverRestoresAnOldLayoutCheckpointLeftAside() throws {
        let aside = root.appendingPathComponent(".checkpoint.old-123")
        try FileManager.default.createDirectory(at: aside, withIntermediateDirectories: true)
        try fake(4)(aside)
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".checkpoint.tmp-123"), withIntermediateDirectories: true)
        let run = RunDirectory(root, settings: "config.json", legacyCheckpoint: "checkpoint")
        try run.recover()
        XCTAssertEqual(names(), ["checkpoint"])
        XCTAssertEqual(try run.latestCheckpoint()?.lastPathComponent, "checkpoint")
    }

    func testBeginRefusesToOverwriteOrToResumeNothing() throws {
        let run = RunDirectory(root, settings: "config.json", runFiles: ["metrics.jsonl"])
        XCTAssertThrowsError(try run.begin(.resume, what: "GRPO")) {
            XCTAssertTrue("\($0)".contains("nothing to resume in \(self.root.path)"), "\($0)")
        }
        XCTAssertFalse(try run.begin(.new, what: "GRPO"))
        XCTAssertFalse(try run.begin(.resumeOrNew, what: "GRPO"))
        try run.writeAtomically(Data("{}".utf8), name: "config.json")
        try run.writeAtomically(Data("{}\n".utf8), name: "metrics.jsonl")
        try run.commitCheckpoint(step: 5, fake(5))
        try Data("mine".utf8).write(to: root.appendingPathComponent("notes.txt"))
        XCTAssertThrowsError(try run.begin(.new, what: "GRPO")) {
            XCTAssertTrue("\($0)".contains("already holds a GRPO run (checkpoint at step 5): pass --resume"), "\($0)")
        }
        XCTAssertTrue(try run.begin(.resume, what: "GRPO"))
        XCTAssertTrue(try run.begin(.resumeOrNew, what: "GRPO"))
        XCTAssertFalse(try run.begin(.force, what: "GRPO"))
        XCTAssertEqual(names(), ["notes.txt"], "--force deletes the run's files and nothing else")
    }

    func testOneWriterPerRun() throws {
        let run = RunDirectory(root, settings: "config.json")
        let held = try run.lock()
        XCTAssertThrowsError(try run.lock()) { XCTAssertTrue("\($0)".contains("another process is writing the run")) }
        withExtendedLifetime(held) {}
    }

    func testAPointerToAMissingCheckpointIsAClearError() throws {
        try Data("checkpoint-000009\n".utf8).write(to: root.appendingPathComponent("latest"))
        XCTAssertThrowsError(try RunDirectory(root, settings: "config.json").latestCheckpoint()) {
            XCTAssertTrue("\($0)".contains("names checkpoint-000009, which is missing"), "\($0)")
        }
        try Data("garbage".utf8).write(to: root.appendingPathComponent("latest"))
        XCTAssertThrowsError(try RunDirectory(root, settings: "config.json").latestCheckpoint()) {
            XCTAssertTrue("\($0)".contains("is corrupted"), "\($0)")
        }
    }
}
