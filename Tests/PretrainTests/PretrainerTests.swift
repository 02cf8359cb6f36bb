import XCTest
import Model
import Rollout
import Tensor
import ToyWorld
import Training
@testable import Pretrain

final class PretrainerTests: XCTestCase {
    func tinyConfig() -> PretrainConfig {
        var c = PretrainConfig()
        c.policy = PolicyConfig(dim: 16, layers: 1, heads: 2, ffn: 24, context: 160)
        c.steps = 6; c.batch = 2; c.seqLen = 160; c.warmupSteps = 2; c.documents = 50
        c.checkpointEvery = 2; c.evalEvery = 3
        return c
    }

    func testCountingDrillsAreMixedInWithTheirStartMasked() throws {
        let d = CountingDrill(seed: 5, index: 3)
        XCTAssertEqual(d, CountingDrill(seed: 5, index: 3))
        let start = Int(d.prompt.dropFirst("Count: ".count))!
        let next = d.response.dropLast().split(separator: " ").map { Int($0)! }
        XCTAssertTrue((4...8).contains(next.count))
        XCTAssertEqual(next, Array(start + 1 ... start + next.count))
        XCTAssertTrue((10...99_999).contains(start))

        let (train, _) = ToyData(seed: 3).pretrainingDocuments(count: 40, heldOutCount: 4, drillFraction: 0.25)
        let tok = ByteTokenizer()
        let drills = train.filter { tok.decode($0.tokens).contains("Count: ") }
        XCTAssertEqual(train.count, 40)
        XCTAssertEqual(drills.count, 10)
        for doc in drills {   // the loss covers the numbers after the start, and EOS
            let written = tok.decode(zip(doc.tokens, doc.lossMask).filter { $0.1 == 1 }.map { $0.0 }.dropLast())
            XCTAssertTrue(written.hasPrefix(" ") && written.hasSuffix("\n"))
            XCTAssertFalse(written.contains("Count"))
            XCTAssertEqual(doc.lossMask.last, 1)
        }
    }

    func testLossFallsAndResumeIsExact() throws {
        let c = tinyConfig()
        let (train, heldOut) = ToyData(seed: 3).pretrainingDocuments(count: c.documents, heldOutCount: 8)
        XCTAssertTrue(train.allSatisfy { $0.tokens.first == ByteTokenizer.bos && $0.tokens.last == ByteTokenizer.eos })
        // The loss covers the response the policy writes, not the prompt or the interpreter's output.
        let tok = ByteTokenizer()
        for d in train.prefix(20) {
            let written = tok.decode(zip(d.tokens, d.lossMask).filter { $0.1 == 1 }.map { $0.0 })
            XCTAssertFalse(written.contains("Question:"))
            XCTAssertFalse(written.contains("```output"))
            if tok.decode(d.tokens).contains("```python") { XCTAssertTrue(written.contains("```python\n")) }
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-pt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }

        let a = try Pretrainer(config: c, trainDocuments: train, heldOutDocuments: heldOut)
        let before = try a.heldOutLoss()
        var losses: [Float] = []
        try a.run(directory: RunDirectory(root.appendingPathComponent("a"), settings: "pretrain.json")) { losses.append($0.loss) }
        XCTAssertEqual(losses.count, 6)
        XCTAssertLessThan(try a.heldOutLoss(), before)

        // Interrupted after 4 steps and checkpointed, resumed from disk, finished: same losses, same weights.
        let b = try Pretrainer(config: c, trainDocuments: train, heldOutDocuments: heldOut)
        for _ in 0..<4 { _ = try b.trainStep() }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("b"), withIntermediateDirectories: true)
        try TrainCheckpoint.write(b.policy, optimizer: b.optimizer, state: b.state, into: root.appendingPathComponent("b"))
        let (policy, state, m, v) = try TrainCheckpoint.load(root.appendingPathComponent("b"))
        XCTAssertEqual(state.step, 4)
        let resumed = try Pretrainer(config: c, trainDocuments: train, heldOutDocuments: heldOut, policy: policy)
        try resumed.restore(state, m: m, v: v)
        var tail: [Float] = []
        try resumed.run(directory: nil) { tail.append($0.loss) }
        XCTAssertEqual(tail, Array(losses[4...]))
        XCTAssertEqual(memcmp(a.policy.arena.data, resumed.policy.arena.data, a.policy.arena.count * 4), 0)
    }

    /// A pretraining run refuses to be overwritten, resumes exactly from its last checkpoint, refuses other
    /// settings, and reuses itself when finished; an old single-directory run is reused only when finished.
    func testPretrainRunResumesRefusesAndReuses() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tir-ptrun-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var c = tinyConfig()
        c.evalEvery = 0
        let full = PretrainRun(config: c, dir: root.appendingPathComponent("full"))
        XCTAssertEqual(try full.run(start: .new) { _ in }, 0)
        XCTAssertThrowsError(try full.run(start: .new) { _ in }) { XCTAssertTrue("\($0)".contains("already holds a pretraining run"), "\($0)") }
        var steps = 0
        XCTAssertEqual(try full.run(start: .resumeOrNew) { _ in steps += 1 }, 6, "a finished run with the same settings is reused")
        XCTAssertEqual(steps, 0)
        var other = c
        other.seed = 2
        XCTAssertThrowsError(try PretrainRun(config: other, dir: full.dir).run(start: .resumeOrNew) { _ in }) {
            XCTAssertTrue("\($0)".contains("other settings (seed: 1 -> 2)"), "\($0)")
        }

        // What a kill between the commits of step 4 and step 6 leaves: checkpoint 4 current.
        let killed = PretrainRun(config: c, dir: root.appendingPathComponent("killed"))
        try FileManager.default.copyItem(at: full.dir, to: killed.dir)
        try FileManager.default.removeItem(at: killed.dir.appendingPathComponent("checkpoint-000006"))
        try Data("checkpoint-000004\n".utf8).write(to: killed.dir.appendingPathComponent("latest"))
        XCTAssertEqual(try killed.run(start: .resume) { _ in }, 4)
        let a = try loadPolicy(full.dir), b = try loadPolicy(killed.dir)
        XCTAssertEqual(memcmp(a.arena.data, b.arena.data, a.arena.count * 4), 0)

        // The old layout: the directory itself was the checkpoint.
        let old = root.appendingPathComponent("old")
        try FileManager.default.copyItem(at: full.dir.appendingPathComponent("checkpoint-000006"), to: old)
        XCTAssertEqual(try PretrainRun(config: c, dir: old).run(start: .resumeOrNew) { _ in }, 6)
        XCTAssertThrowsError(try PretrainRun(config: other, dir: old).run(start: .resumeOrNew) { _ in })
        var longer = c
        longer.steps = 8
        var state = try TrainCheckpoint.loadState(old)
        state.configJSON = String(decoding: try JSONEncoder().encode(longer), as: UTF8.self)
        try JSONEncoder().encode(state).write(to: old.appendingPathComponent("trainer_state.json"))
        XCTAssertThrowsError(try PretrainRun(config: longer, dir: old).run(start: .resumeOrNew) { _ in }) {
            XCTAssertTrue("\($0)".contains("unfinished pretraining run in the old single-directory layout"), "\($0)")
        }
        XCTAssertEqual(try loadPolicy(old).config, c.policy, "it still loads as a base policy")
    }

    /// Every pretraining field out of range is rejected with a message naming it.
    func testEveryOutOfRangeFieldIsRejectedWithItsName() throws {
        let bad: [String: [Any]] = [
            "steps": [0], "batch": [0, 5000], "seqLen": [1, 513], "lr": [0, -1, 2], "warmupSteps": [-1],
            "minLRRatio": [-0.1, 1.5], "weightDecay": [-1, 2], "gradClip": [0], "documents": [0],
            "countingDrills": [-0.5, 2], "checkpointEvery": [-1], "evalEvery": [-1],
            "policy.vocab": [10], "policy.dim": [0], "policy.layers": [0], "policy.heads": [0, 3],
            "policy.ffn": [0], "policy.context": [1], "policy.ropeTheta": [0], "policy.normEps": [0, 1],
            "policy.kvHeads": [-1, 3, 5], "policy.headSize": [-1, 3],
        ]
        let tree = try ConfigCoding.tree(PretrainConfig())
        let numeric = ConfigCoding.leaves(tree).filter { !($0.value is String) && $0.path != "seed" && $0.path != "policy.tiedHead"
                                                                  && $0.path != "policy.qkvBias" }
        XCTAssertEqual(Set(bad.keys), Set(numeric.map(\.path)), "every numeric field needs an out-of-range value here")
        for (path, values) in bad {
            for v in values {
                var t = tree
                let parts = path.split(separator: ".").map(String.init)
                if parts.count == 1 { t[path] = v } else {
                    var sub = t[parts[0]] as! [String: Any]
                    sub[parts[1]] = v
                    t[parts[0]] = sub
                }
                let c = try JSONDecoder().decode(PretrainConfig.self, from: JSONSerialization.data(withJSONObject: t))
                XCTAssertThrowsError(try c.validate(), "\(path) = \(v)") {
                    XCTAssertTrue("\($0)".hasPrefix(path + " must be"), "\(path) = \(v): \($0)")
                }
            }
        }
        XCTAssertNoThrow(try PretrainConfig().validate())
    }

    func testBadSettingsAreErrors() {
        var c = tinyConfig(); c.seqLen = 1000
        let doc = TrainingDocument(tokens: [1, 5, 2], lossMask: [0, 1, 1])
        XCTAssertThrowsError(try Pretrainer(config: c, trainDocuments: [doc], heldOutDocuments: [doc]))
        XCTAssertThrowsError(try Pretrainer(config: tinyConfig(), trainDocuments: [], heldOutDocuments: [doc]))
    }
}
