import Distributed
import Foundation
import Model
import Rollout
import Tensor
import Training

/// The GRPO loop of docs/DESIGN.md, one step in four parts: collect (rollout B prompts x G samples), prepare
/// (group advantages, trajectory filters, loss masks, optionally recomputed old log-probs), update (per PPO
/// epoch M mini-batch updates: micro-batched log-probs with grad -> clipped surrogate over the loss mask ->
/// backward -> pre-clip grad norm -> non-finite check -> clip -> AdamW) and metrics.
public final class GRPOTrainer {
    public let config: GRPOConfig
    /// The trained model: its policy's weights change, its tokenizer and chat format do not.
    public let model: LanguageModel
    public var policy: Policy { model.policy }
    public let optimizer: AdamW
    public private(set) var step = 0
    let reference: Policy?
    let tasks: TaskSource
    let executor: CodeExecutor?
    let engine: EpisodeEngine
    var rng: RNG
    /// The estimated peak memory, with the micro-batch token cap the update uses (`memoryBudgetGB` or
    /// `microBatchTokens`).
    public let memoryPlan: MemoryPlan
    /// At most this many padded tokens per micro-batch (`memoryPlan`'s, when the config caps them; 0 = no cap).
    let microBatchTokenCap: Int
    /// The data-parallel job (one process without mpirun): each rank rolls out whole groups of the batch and
    /// runs every size-th micro-batch; the gradient is summed over ranks, so every rank holds the same weights.
    let cluster: Cluster

    /// A toy policy (byte tokenizer, raw prompts); see the designated initializer.
    public convenience init(config: GRPOConfig, policy: Policy, tasks: TaskSource, executor: CodeExecutor?,
                            reward: RewardScheme? = nil, reference: Policy? = nil, cluster: Cluster = .shared) throws {
        try self.init(config: config, model: LanguageModel(toy: policy), tasks: tasks, executor: executor, reward: reward,
                      reference: reference, cluster: cluster)
    }

    /// `model`'s episodes are prompted in its chat format when it has one (`PromptTemplate`). `reward` replaces
    /// the scheme named in the config (a user's own reward). `reference` is the frozen KL reference, the base
    /// policy; by default a copy of the policy, which is the base when a run starts (a resumed run passes its
    /// base, not the resumed weights). `cluster` is the job the batch is split over.
    public init(config: GRPOConfig, model: LanguageModel, tasks: TaskSource, executor: CodeExecutor?,
                reward: RewardScheme? = nil, reference: Policy? = nil, cluster: Cluster = .shared) throws {
        try config.validate()
        self.cluster = cluster
        self.config = config
        self.model = model
        let policy = model.policy
        self.tasks = tasks
        self.executor = executor
        optimizer = AdamW(arena: policy.arena, lr: config.optimizer.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8,
                          weightDecay: config.optimizer.weightDecay)
        if let reference, reference.config != policy.config {
            throw ConfigError("the KL reference policy has another architecture than the trained policy")
        }
        memoryPlan = MemoryPlan.of(config, model: policy.config, ranks: cluster.size)
        microBatchTokenCap = config.microBatchTokens > 0 || config.memoryBudgetGB > 0 ? memoryPlan.microBatchTokens : 0
        // Bounded micro-batches: keep no idle buffers (measured with SmolLM2, 8 x 8 x 256 at 512 tokens per
        // micro-batch: peak RSS 3.8 GB without, 5.5 GB keeping half a micro-batch's working set, 6.5 GB keeping
        // all of it; the step time did not change).
        if microBatchTokenCap > 0 { setStorageCacheLimit(0) }
        self.reference = config.kl.beta > 0 ? try reference ?? policy.copy() : nil
        engine = try EpisodeEngine(config: config.rollout, reward: reward ?? config.reward.rewardScheme,
                                   tokenizer: model.tokenizer, prompt: try PromptTemplate(model: model, config: config.rollout))
        rng = RNG(seed: config.seed ^ 0x5eed_6e90)
    }

    /// Restores the optimizer, step counter and RNG from a training checkpoint (the policy must already
    /// hold that checkpoint's weights).
    public func restore(_ state: TrainerState, m: [Float], v: [Float]) throws {
        guard state.kind == "grpo" else { throw ConfigError("checkpoint is from a \(state.kind) run, not GRPO") }
        try optimizer.loadState(step: state.optimizerStep, m: m, v: v)
        rng = try RNG(state: state.rngState)
        step = state.step
    }

    public var state: TrainerState {
        TrainerState(step: step, optimizerStep: optimizer.step, rngState: rng.state, kind: "grpo", configJSON: config.json)
    }

    /// One GRPO step; returns the step's metrics (one JSONL line).
    public func trainStep() async throws -> [String: Double] {
        let start = Date()
        let rollout = try await collect()
        let prepared = try prepare(rollout.trajectories)
        let updates = try update(prepared)
        step += 1
        return try metrics(rollout, prepared, updates, seconds: Date().timeIntervalSince(start))
    }

    /// A step's trajectories, in group order, with the rollout's timing.
    struct RolloutBatch {
        var trajectories: [Trajectory] = []
        var stats = RolloutStats()
        /// Groups without reward signal in the first rollout round.
        var zeroSignalFraction = 0.0
    }

    /// 1. Collect: rollout B prompts x G samples (with optional DAPO dynamic sampling: keep only groups with
    /// signal, resample the rest), from the rollout copy of the policy when it runs in reduced precision.
    func collect() async throws -> RolloutBatch {
        var out = RolloutBatch()
        let G = config.groupSize, B = config.promptsPerStep
        var round = 0
        while true {
            let batch = tasks.batch(step: step * (config.maxResampleRounds + 1) + round, size: B, seed: config.seed)
            let source = PolicyTokenSource(policy: policy, params: config.rollout.sampling,
                                           seed: config.seed &* 1_000_003 &+ UInt64(step * 97 + round),
                                           cacheFormat: config.rolloutKVCache, weightFormat: config.rolloutWeights,
                                           tokenCount: model.tokenizer.tokenCount)
            let (t, s) = try await rolloutOnRanks(batch, source: source)
            out.stats.decodeSeconds += s.decodeSeconds; out.stats.sandboxSeconds += s.sandboxSeconds
            out.stats.retokenizedTurns += s.retokenizedTurns
            out.stats.totalSeconds += s.totalSeconds
            let zero = try zeroSignalGroups(rewards: t.map(\.reward), groupSize: G)
            if round == 0 { out.zeroSignalFraction = Double(zero.filter { $0 }.count) / Double(zero.count) }
            if !config.dynamicSampling { out.trajectories = t; break }
            for (g, z) in zero.enumerated() where !z && out.trajectories.count < B * G {
                out.trajectories += t[g * G ..< (g + 1) * G]
            }
            round += 1
            if out.trajectories.count >= B * G || round > config.maxResampleRounds {
                if out.trajectories.isEmpty { out.trajectories = Array(t[0..<G]) }   // nothing had signal: a no-op update
                break
            }
        }
        // Re-number groups in batch order (dynamic sampling may have mixed rounds).
        for i in out.trajectories.indices { out.trajectories[i].group = i / G }
        return out
    }

    /// This rank's share of the batch (whole groups, consecutive prompts), then every rank's trajectories in
    /// batch order. Sequence k samples from stream k whatever rank runs it, so the union is what one process
    /// samples.
    func rolloutOnRanks(_ batch: [MathTask], source: PolicyTokenSource) async throws -> ([Trajectory], RolloutStats) {
        let n = cluster.size, r = cluster.rank
        let lo = batch.count * r / n, hi = batch.count * (r + 1) / n
        source.streamOffset = lo * config.groupSize
        let (mine, stats) = try await engine.run(tasks: Array(batch[lo..<hi]), groupSize: config.groupSize,
                                                 source: source, executor: executor, contextLimit: policy.config.context)
        guard n > 1 else { return (mine, stats) }
        let parts = try cluster.allGather(try RankMessage.encoder.encode(mine))
        var all = stats
        all.retokenizedTurns = Int(try cluster.sumInRankOrder([Double(stats.retokenizedTurns)])[0])   // every rank's turns
        return (try parts.flatMap { try RankMessage.decoder.decode([Trajectory].self, from: $0) }, all)
    }

    /// The trainer's forward of a packed batch: the targets' log-probs under logits / temperature, through the
    /// fused, chunked head (no [rows * seqLen, V] logits); `eachChunk` sees the chunks' logits for statistics.
    func forward(_ b: PolicyLossBatch,
                 eachChunk: ((_ logits: UnsafePointer<Float>, _ rows: Range<Int>) throws -> Void)? = nil) throws -> Tensor {
        try policy.tokenLogProbs(tokens: b.inputs, targets: b.targets, layout: b.attentionLayout,
                                 temperature: config.rollout.sampling.temperature, eachChunk: eachChunk)
    }
}

/// Fraction of low-probability policy tokens among the first few policy tokens after a tool observation, and
/// among all other policy tokens (SimpleTIR's diagnosis: OOD feedback makes the next tokens unlikely).
public func lowProbabilityByPlacement(_ ts: [Trajectory], threshold: Float) -> (afterTool: Double, elsewhere: Double) {
    let logThreshold = logf(threshold)
    var after = (low: 0, all: 0), other = (low: 0, all: 0)
    for t in ts {
        for (i, place) in tokenPlaces(t).enumerated() where t.roles[i] == .policy {
            let isLow = t.samplingLogProbs[i] < logThreshold ? 1 : 0
            if place == .afterTool { after.low += isLow; after.all += 1 } else { other.low += isLow; other.all += 1 }
        }
    }
    return (Double(after.low) / Double(max(1, after.all)), Double(other.low) / Double(max(1, other.all)))
}

/// How ranks exchange trajectories and statistics (and experiments save their measurements): JSON that keeps
/// non-finite numbers (an empty mask's NaN entropy, a -inf log-prob) and round-trips every Float and Double exactly.
public enum RankMessage {
    public static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }
    public static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }
}
