import Foundation
import Model
import Tensor
import Training

/// Next-token pretraining settings for the base policy.
public struct PretrainConfig: Codable, Equatable, Sendable {
    public var policy: PolicyConfig = PretrainConfig.demoPolicy
    public var seed: UInt64 = 1
    public var steps: Int = 3000
    public var batch: Int = 16
    public var seqLen: Int = 256
    public var lr: Float = 3e-3
    public var warmupSteps: Int = 50
    public var minLRRatio: Float = 0.1
    public var weightDecay: Float = 0.1
    public var gradClip: Float = 1
    public var documents: Int = 60000
    /// Fraction of the documents that are counting drills (see `CountingDrill`).
    public var countingDrills: Double = 0.1
    public var checkpointEvery: Int = 200
    public var evalEvery: Int = 200

    public init() {}

    /// Range-checks every field; the message names it ("seqLen must be in 2...512, got 1000").
    public func validate() throws {
        let check = FieldCheck()
        // Pretraining writes the toy world's text with the byte tokenizer: its ids must fit the embedding.
        try check.section("policy").int("vocab", policy.vocab, ByteTokenizer.vocabSize...(1 << 20))
        try policy.validate(check.section("policy"))
        try check.int("steps", steps, 1...10_000_000)
        try check.int("batch", batch, 1...4096)
        try check.int("seqLen", seqLen, 2...policy.context)
        try check.number("lr", lr, 0...1, openLow: true)
        try check.int("warmupSteps", warmupSteps, 0...10_000_000)
        try check.number("minLRRatio", minLRRatio, 0...1)
        try check.number("weightDecay", weightDecay, 0...1)
        try check.number("gradClip", gradClip, 0...1e6, openLow: true)
        try check.int("documents", documents, 1...10_000_000)
        try check.number("countingDrills", countingDrills, 0...1)
        try check.int("checkpointEvery", checkpointEvery, 0...10_000_000)
        try check.int("evalEvery", evalEvery, 0...10_000_000)
    }

    /// The demo's policy: 4 layers like `small`, half its width (cheaper to train), with room for multi-turn
    /// episodes. The head is untied and the token embeddings get no weight decay: in this corpus a digit's
    /// identity predicts nothing until the policy can copy numbers, so with a tied, decayed table the ten digit
    /// vectors collapse towards one another and copying does not start; untied and undecayed, it starts
    /// (reliably across seeds only with the counting drills, `countingDrills`). Figures: docs/PERFORMANCE.md.
    public static let demoPolicy = PolicyConfig(dim: 128, layers: 4, heads: 4, ffn: 352, context: 512, tiedHead: false)
}

/// One pretraining document: BOS ... EOS, and the loss weight of each token as a target (0 for tokens the
/// policy never writes itself: the prompt and the interpreter's output blocks, which it cannot predict).
public struct TrainingDocument: Sendable {
    public var tokens: [Int32]
    public var lossMask: [Float]
    public init(tokens: [Int32], lossMask: [Float]) { self.tokens = tokens; self.lossMask = lossMask }
}

/// Packs whole documents into right-padded rows of `seqLen + 1` tokens, sampled with the trainer's RNG
/// (saved in checkpoints, so a resumed run sees exactly the same batches).
struct DocumentBatcher {
    let documents: [TrainingDocument]
    let seqLen: Int

    func batch(rows: Int, rng: inout RNG) -> (inputs: [Int32], targets: [Int32], mask: [Float]) {
        var inputs = [Int32](repeating: ByteTokenizer.pad, count: rows * seqLen), targets = inputs
        var mask = [Float](repeating: 0, count: rows * seqLen)
        for r in 0..<rows {
            var row: [Int32] = [], weight: [Float] = []
            while true {
                let d = documents[rng.int(0..<documents.count)]
                if row.count + d.tokens.count > seqLen + 1 {
                    if row.isEmpty { row = Array(d.tokens.prefix(seqLen + 1)); weight = Array(d.lossMask.prefix(seqLen + 1)) }
                    break
                }
                row += d.tokens; weight += d.lossMask
            }
            for j in 0..<(row.count - 1) {
                inputs[r * seqLen + j] = row[j]; targets[r * seqLen + j] = row[j + 1]; mask[r * seqLen + j] = weight[j + 1]
            }
        }
        return (inputs, targets, mask)
    }
}

public struct PretrainProgress {
    public var step: Int, steps: Int, loss: Float, lr: Float, tokensPerSecond: Double, etaSeconds: Double
    public var heldOutLoss: Float?
}

/// Next-token training with AdamW, warmup + cosine, clipping, periodic atomic checkpoints and exact resume.
public final class Pretrainer {
    public let config: PretrainConfig
    public let policy: Policy
    public let optimizer: AdamW
    public private(set) var step = 0
    var rng: RNG
    let train: DocumentBatcher
    let heldOut: DocumentBatcher

    public init(config: PretrainConfig, trainDocuments: [TrainingDocument], heldOutDocuments: [TrainingDocument],
                policy: Policy? = nil) throws {
        guard !trainDocuments.isEmpty, !heldOutDocuments.isEmpty else { throw ConfigError("pretraining needs documents") }
        try config.validate()
        if let policy, policy.config != config.policy {
            throw ConfigError("the policy to continue has another architecture than the config's policy")
        }
        self.config = config
        self.policy = try policy ?? Policy(config: config.policy, seed: config.seed)
        // Matrices decay; norm gains and the token embeddings do not (see `demoPolicy`).
        optimizer = AdamW(arena: self.policy.arena, lr: config.lr, beta1: 0.9, beta2: 0.95, eps: 1e-8,
                          weightDecay: config.weightDecay,
                          decays: { $0.shape.count >= 2 && !$0.name.hasPrefix("model.embed_tokens") })
        rng = RNG(seed: config.seed ^ 0x9e37_79b9)
        train = DocumentBatcher(documents: trainDocuments, seqLen: config.seqLen)
        heldOut = DocumentBatcher(documents: heldOutDocuments, seqLen: config.seqLen)
    }

    public var state: TrainerState {
        TrainerState(step: step, optimizerStep: optimizer.step, rngState: rng.state, kind: "pretrain",
                     configJSON: String(decoding: try! JSONEncoder().encode(config), as: UTF8.self))
    }

    public func restore(_ state: TrainerState, m: [Float], v: [Float]) throws {
        guard state.kind == "pretrain" else { throw ConfigError("checkpoint is from a \(state.kind) run, not pretraining") }
        try optimizer.loadState(step: state.optimizerStep, m: m, v: v)
        rng = try RNG(state: state.rngState)
        step = state.step
    }

    /// One optimizer step; returns the training loss.
    public func trainStep() throws -> Float {
        let b = train.batch(rows: config.batch, rng: &rng)
        optimizer.lr = LRSchedule.cosine.lr(step: step, total: config.steps, peak: config.lr,
                                            warmup: config.warmupSteps, minRatio: config.minLRRatio)
        policy.arena.zeroGrad()
        let logits = try policy.logits(tokens: b.inputs, batch: config.batch, seqLen: config.seqLen)
        let loss = try crossEntropy(logits, targets: b.targets, mask: b.mask)
        try loss.backward()
        optimizer.clipAndUpdate(maxNorm: config.gradClip)
        step += 1
        return loss.item()
    }

    /// Mean loss over a fixed set of held-out batches (same batches every call).
    public func heldOutLoss(batches: Int = 4) throws -> Float {
        var r = RNG(seed: 12345)
        var total: Float = 0
        for _ in 0..<batches {
            let b = heldOut.batch(rows: config.batch, rng: &r)
            total += try noGrad {
                try crossEntropy(try policy.logits(tokens: b.inputs, batch: config.batch, seqLen: config.seqLen),
                                 targets: b.targets, mask: b.mask).item()
            }
        }
        return total / Float(batches)
    }

    /// Trains to `config.steps`, committing a checkpoint to `directory` every `checkpointEvery` steps and at the end.
    public func run(directory: RunDirectory?, progress: (PretrainProgress) -> Void) throws {
        let start = Date(), startStep = step
        let tokensPerStep = Double(config.batch * config.seqLen)
        while step < config.steps {
            let loss = try trainStep()
            let elapsed = Date().timeIntervalSince(start)
            let done = Double(step - startStep)
            var p = PretrainProgress(step: step, steps: config.steps, loss: loss, lr: optimizer.lr,
                                     tokensPerSecond: done * tokensPerStep / max(elapsed, 1e-9),
                                     etaSeconds: elapsed / done * Double(config.steps - step))
            if config.evalEvery > 0 && (step % config.evalEvery == 0 || step == config.steps) {
                p.heldOutLoss = try heldOutLoss()
            }
            progress(p)
            if let directory, (config.checkpointEvery > 0 && step % config.checkpointEvery == 0) || step == config.steps {
                try directory.commitCheckpoint(step: step) { tmp in
                    try TrainCheckpoint.write(policy, optimizer: optimizer, state: state, into: tmp)
                }
            }
        }
    }
}
