import Foundation
import ArgumentParser
import Distributed
import Experiments
import Model
import Pretrain
import Training

/// The bases an experiment starts from: made by rank 0, known to every rank.
struct ExperimentBases: Codable {
    var main: URL
    /// How the main base came about when this command pretrained it (for the report).
    var note: String?
    /// Bases taken earlier in the demo's pretraining, by step.
    var early: [Int: URL] = [:]

    /// Every base by its pretraining step (nil: the main base), as `SweepRunner` takes them.
    var byStep: [Int?: URL] { early.reduce(into: [nil: main]) { $0[$1.key] = $1.value } }
}

extension ExperimentInstability {
    /// Rank 0 creates --out (not for --report-only) and makes the missing bases while the other ranks wait;
    /// every rank gets their paths.
    func bases(outDir: URL, earlySteps: Set<Int>, cluster: Cluster) async throws -> ExperimentBases {
        if !reportOnly { try prepareOutput(outDir, cluster: cluster) }
        return try await fromRoot(cluster) {
            let (main, note) = try mainBase(outDir: outDir)
            var made = ExperimentBases(main: main, note: note)
            for step in earlySteps.sorted() {
                made.early[step] = try earlyBase(step: step, dir: outDir.appendingPathComponent("base-step-\(step)"))
            }
            return made
        }
    }

    /// The base policy: the given checkpoint, or pretrain one (and how it came about, for the report).
    func mainBase(outDir: URL) throws -> (URL, String?) {
        if let checkpoint {   // a real model by name (fetched when missing) or any model by path; never pretrained here
            let model = try KnownModel.resolve(checkpoint)
            if FileManager.default.fileExists(atPath: model.path) { _ = try resolveCheckpoint(model) }   // its own message
            guard modelExists(model) else {
                throw ValidationError("no model at \(model.path): give smollm2, qwen2.5-coder, a tir run, a Hugging Face directory "
                                      + "or a .gguf file")
            }
            return (model, nil)
        }
        var baseDir = url(base)
        var baseNote: String?
        let quickBase = outDir.appendingPathComponent("base")
        if quick && !modelExists(baseDir) { baseDir = quickBase }   // --quick pretrains its own short base there
        var pc = PretrainConfig()
        if quick {
            pc.steps = 60
            pc.batch = 8
            pc.warmupSteps = 10
            pc.evalEvery = 0
            pc.checkpointEvery = 0
            pc.documents = 4000
        }
        // An unfinished pretraining run in the base directory is resumed only if it is the one this command
        // would start (an earlier, interrupted invocation); anything else is the user's to finish.
        let status = try? PretrainRun.status(baseDir)
        let partial = status.flatMap { $0 }.flatMap { $0.step < $0.config.steps ? $0.config : nil }
        if let partial, partial != pc {
            throw ValidationError("\(baseDir.path) holds an unfinished pretraining run: finish it with `tir pretrain --resume --out \(baseDir.path)` (same settings), or pass another --base")
        }
        if !modelExists(baseDir) || partial != nil {
            guard !reportOnly else { throw ValidationError("no finished base policy in \(baseDir.path)") }
            Status.info("no finished base policy in \(url(base).path): pretraining \(pc.steps) steps into \(baseDir.path)")
            let t0 = Date()
            try pretrainBase(pc, dir: baseDir, start: .resumeOrNew)
            baseNote = "pretrained by this command: \(pc.steps) steps of \(pc.batch) x \(pc.seqLen) tokens, "
                + String(format: "%.1f minutes", Date().timeIntervalSince(t0) / 60)
                + (quick ? " (a --quick base: barely trained)" : "")
        }

        return (baseDir, baseNote)
    }

    /// The demo's pretraining (its 3000-step schedule) stopped after `step` steps, in `dir`: reused when it is
    /// there, resumed when an earlier invocation stopped short of it.
    func earlyBase(step: Int, dir: URL) throws -> URL {
        let c = PretrainConfig()
        let (train, heldOut) = ToyData(seed: c.seed).pretrainingDocuments(count: c.documents, drillFraction: c.countingDrills)
        var trainer = try Pretrainer(config: c, trainDocuments: train, heldOutDocuments: heldOut)
        let directory = RunDirectory(dir, settings: "pretrain.json")
        let lock = try directory.lock()
        defer { withExtendedLifetime(lock) {} }
        try directory.recover()
        if let checkpoint = try directory.latestCheckpoint() {
            let (policy, state, m, v) = try TrainCheckpoint.load(checkpoint)
            let same = (try? JSONDecoder().decode(PretrainConfig.self, from: Data(state.configJSON.utf8))) == c
            guard state.kind == "pretrain", same, state.step <= step else {
                throw ValidationError("\(dir.path) holds another training run than the demo's pretraining up to step \(step); remove it or use another --out")
            }
            if state.step == step { return dir }
            trainer = try Pretrainer(config: c, trainDocuments: train, heldOutDocuments: heldOut, policy: policy)
            try trainer.restore(state, m: m, v: v)
        }
        Status.info("pretraining the early base: the demo's schedule up to step \(step) -> \(dir.path)")
        let progress = ProgressLine("early base step", total: step)
        while trainer.step < step {
            let loss = try trainer.trainStep()
            progress.show(step: trainer.step, String(format: "loss %.4f", loss))
            if trainer.step % c.checkpointEvery == 0 || trainer.step == step {
                try directory.commitCheckpoint(step: trainer.step) { tmp in
                    try TrainCheckpoint.write(trainer.policy, optimizer: trainer.optimizer, state: trainer.state, into: tmp)
                }
            }
        }
        return dir
    }
}
