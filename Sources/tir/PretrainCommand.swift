import Foundation
import ArgumentParser
import Model
import Pretrain
import Rollout
import Tensor
import Training

struct Pretrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pretrain the base policy on the synthetic toy-world corpus (next-token loss).")

    @Option(help: "Output checkpoint directory (resumable).") var out = "runs/base"
    @Option(help: "Optimizer steps.") var steps: Int?
    @Option(help: "Sequences per step.") var batch: Int?
    @Option(help: "Peak learning rate.") var lr: Float?
    @Option(help: "Tokens per sequence (documents are packed whole).") var seqLen: Int?
    @Option(help: "Seed of data, initialization and sampling.") var seed: UInt64 = 1
    @Option(help: "Architecture: demo (4 layers, width 128, 512 context) | small | base.") var config = "demo"
    @Option(help: "Override the model width.") var dim: Int?
    @Option(help: "Override the number of layers.") var layers: Int?
    @Option(help: "Override the number of attention heads.") var heads: Int?
    @Option(help: "Override the MLP hidden size.") var ffn: Int?
    @Flag(help: "Continue from the checkpoint in --out.") var resume = false
    @Option(help: "Held-out tasks sampled to report the base policy's accuracy (0 = skip).") var evalTasks = 128

    func run() async throws {
        var c = PretrainConfig()
        c.seed = seed
        if config != "demo" { c.policy = try PolicyConfig.preset(config); c.seqLen = min(c.seqLen, c.policy.context) }
        if let dim { c.policy.dim = dim }
        if let layers { c.policy.layers = layers }
        if let heads { c.policy.heads = heads }
        if let ffn { c.policy.ffn = ffn }
        if let steps { c.steps = steps }
        if let batch { c.batch = batch }
        if let lr { c.lr = lr }
        if let seqLen { c.seqLen = seqLen }
        let dir = url(out)
        Status.machine()
        try await pretrainBase(c, dir: dir, resume: resume)
        if evalTasks > 0 {
            let policy = try Checkpoint.load(dir)
            let report = try await evaluateOnHeldOut(policy, tasks: evalTasks, samples: 1, seed: seed)
            print(report.table)
        }
    }
}

/// Pretrains (or resumes, or reuses when already complete) the base policy in `dir`.
func pretrainBase(_ c: PretrainConfig, dir: URL, resume: Bool) async throws {
    let data = ToyData(seed: c.seed)
    let (train, heldOut) = data.pretrainingDocuments(count: c.documents, drillFraction: c.countingDrills)
    var trainer = try Pretrainer(config: c, trainDocuments: train, heldOutDocuments: heldOut)
    if TrainCheckpoint.hasState(dir) {
        guard resume else {
            throw ValidationError("\(dir.path) already holds a training checkpoint: pass --resume to continue it, or choose another --out")
        }
        let (policy, state, m, v) = try TrainCheckpoint.load(dir)
        trainer = try Pretrainer(config: c, trainDocuments: train, heldOutDocuments: heldOut, policy: policy)
        try trainer.restore(state, m: m, v: v)
        Status.info("resuming pretraining at step \(state.step)/\(c.steps)")
    }
    Status.info("pretraining \(trainer.policy.parameterCount) parameters for \(c.steps) steps of \(c.batch) x \(c.seqLen) tokens -> \(dir.path)")
    var lastHeldOut: Float?
    // Beside the checkpoint directory, which every checkpoint replaces whole.
    let tb = dir.deletingLastPathComponent().appendingPathComponent(dir.lastPathComponent + "-tb")
    if trainer.step == 0 { try? FileManager.default.removeItem(at: tb) }
    let board = try TensorBoardWriter(dir: tb, firstStep: trainer.step + 1)
    Status.info("TensorBoard scalars: \(tb.path)")
    var boardError: Error?
    let line = ProgressLine("pretrain step", total: c.steps)
    try trainer.run(checkpointDir: dir) { p in
        if let h = p.heldOutLoss { lastHeldOut = h }
        do { try board.write(step: p.step, scalars: p.scalars) } catch { boardError = boardError ?? error }
        line.show(step: p.step, String(format: "loss %.4f  held-out %@  lr %.2e  %.0f tok/s", p.loss,
                                       lastHeldOut.map { String(format: "%.4f", $0) } ?? "-", p.lr, p.tokensPerSecond),
                  eta: p.etaSeconds)
    }
    if let boardError { throw boardError }
    if let h = lastHeldOut { Status.info(String(format: "held-out loss %.4f", h)) }
}
