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
    @Flag(help: "Continue the pretraining run in --out (same settings) from its last checkpoint.") var resume = false
    @Flag(help: "Delete the run in --out and start over.") var force = false
    @Option(help: "Held-out tasks sampled to report the base policy's accuracy (0 = skip).") var evalTasks = 128

    func validate() throws {
        if resume && force { throw ValidationError("--resume and --force exclude each other") }
        try requireCount("eval-tasks", evalTasks, min: 0)
        for (flag, value) in [("steps", steps), ("batch", batch), ("seq-len", seqLen), ("dim", dim), ("layers", layers),
                              ("heads", heads), ("ffn", ffn)] {
            try requireCount(flag, value)
        }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number, got \(lr)") }
    }

    func run() async throws {
        try requireOneProcess("tir pretrain")
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
        try pretrainBase(c, dir: dir, start: force ? .force : resume ? .resume : .new)
        if evalTasks > 0 {
            let policy = try loadPolicy(dir)
            let report = try await evaluateOnHeldOut(policy, tasks: evalTasks, samples: 1, seed: seed, rollout: RolloutConfig())
            print(report.table)
        }
    }
}

/// Pretrains the base policy in `dir`, or continues / reuses the run there (see `RunStart`).
func pretrainBase(_ c: PretrainConfig, dir: URL, start: RunStart) throws {
    try c.validate()
    let run = PretrainRun(config: c, dir: dir)
    try run.directory.check(start, what: "pretraining")
    let reached = start == .force || start == .new ? nil : (try? PretrainRun.status(dir)).flatMap { $0 }.flatMap { $0.config == c ? $0.step : nil }
    if let reached, reached >= c.steps {
        Status.info("reusing the finished pretraining run in \(dir.path) (same settings)")
    } else {
        if let reached, reached > 0 { Status.info("resuming pretraining at step \(reached)/\(c.steps)") }
        let parameters = c.policy.parameterLayout.map { $0.shape.reduce(1, *) }.reduce(0, +)
        Status.info("pretraining \(parameters) parameters for \(c.steps) steps of \(c.batch) x \(c.seqLen) tokens -> \(dir.path)")
    }
    var lastHeldOut: Float?
    // TensorBoard scalars beside the run directory, which a --force start clears.
    let resumedAt = start == .force || start == .new ? 0 : ((try? PretrainRun.status(dir))?.1 ?? 0)
    let tb = dir.deletingLastPathComponent().appendingPathComponent(dir.lastPathComponent + "-tb")
    if resumedAt == 0 { try? FileManager.default.removeItem(at: tb) }
    let board = try TensorBoardWriter(dir: tb, firstStep: resumedAt + 1)
    Status.info("TensorBoard scalars: \(tb.path)")
    var boardError: Error?
    let line = ProgressLine("pretrain step", total: c.steps)
    try run.run(start: start) { p in
        if let h = p.heldOutLoss { lastHeldOut = h }
        do { try board.write(step: p.step, scalars: p.scalars) } catch { boardError = boardError ?? error }
        line.show(step: p.step, String(format: "loss %.4f  held-out %@  lr %.2e  %.0f tok/s", p.loss,
                                       lastHeldOut.map { String(format: "%.4f", $0) } ?? "-", p.lr, p.tokensPerSecond),
                  eta: p.etaSeconds)
    }
    if let boardError { throw boardError }
    if let h = lastHeldOut { Status.info(String(format: "held-out loss %.4f", h)) }
}
