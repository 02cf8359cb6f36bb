import Foundation
import Model
import Rollout
import Tensor
import Training

/// The GRPO loop of docs/DESIGN.md: rollout B prompts x G samples -> group advantages -> trajectory filters ->
/// M mini-batch updates (micro-batched log-probs with grad -> clipped surrogate over the loss mask ->
/// backward -> pre-clip grad norm -> non-finite check -> clip -> AdamW).
public final class GRPOTrainer {
    public let config: GRPOConfig
    public let policy: Policy
    public let optimizer: AdamW
    public private(set) var step = 0
    let reference: Policy?
    let tasks: TaskSource
    let executor: CodeExecutor?
    let engine: EpisodeEngine
    var rng: RNG

    /// `reward` replaces the scheme named in the config (a user's own reward). `reference` is the frozen KL
    /// reference, the base policy; by default a copy of `policy`, which is the base when a run starts (a
    /// resumed run passes its base, not the resumed weights).
    public init(config: GRPOConfig, policy: Policy, tasks: TaskSource, executor: CodeExecutor?,
                reward: RewardScheme? = nil, reference: Policy? = nil) throws {
        try config.validate()
        self.config = config
        self.policy = policy
        self.tasks = tasks
        self.executor = executor
        optimizer = AdamW(arena: policy.arena, lr: config.optimizer.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8,
                          weightDecay: config.optimizer.weightDecay)
        if let reference, reference.config != policy.config {
            throw ConfigError("the KL reference policy has another architecture than the trained policy")
        }
        self.reference = config.kl.beta > 0 ? try reference ?? Self.copy(policy) : nil
        engine = try EpisodeEngine(config: config.rollout, reward: reward ?? config.reward.rewardScheme)
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

    static func copy(_ p: Policy) throws -> Policy {
        let q = try Policy(config: p.config)
        q.arena.data.update(from: p.arena.data, count: p.arena.count)
        return q
    }

    /// One GRPO step; returns the step's metrics (one JSONL line).
    public func trainStep() async throws -> [String: Double] {
        let stepStart = Date()
        var m: [String: Double] = [:]
        // 1. Rollout (with optional DAPO dynamic sampling: keep only groups with signal, resample the rest).
        var trajectories: [Trajectory] = []
        var rolloutStats = RolloutStats()
        var zeroSignalFraction = 0.0
        let G = config.groupSize, B = config.promptsPerStep
        var round = 0
        while true {
            let batch = tasks.batch(step: step * (config.maxResampleRounds + 1) + round, size: B, seed: config.seed)
            let source = PolicyTokenSource(policy: policy, params: config.rollout.sampling,
                                           seed: config.seed &* 1_000_003 &+ UInt64(step * 97 + round))
            let (t, s) = try await engine.run(tasks: batch, groupSize: G, source: source, executor: executor,
                                              contextLimit: policy.config.context)
            rolloutStats.decodeSeconds += s.decodeSeconds; rolloutStats.sandboxSeconds += s.sandboxSeconds
            rolloutStats.totalSeconds += s.totalSeconds
            let zero = try zeroSignalGroups(rewards: t.map(\.reward), groupSize: G)
            if round == 0 { zeroSignalFraction = Double(zero.filter { $0 }.count) / Double(zero.count) }
            if !config.dynamicSampling { trajectories = t; break }
            for (g, z) in zero.enumerated() where !z && trajectories.count < B * G {
                trajectories += t[g * G ..< (g + 1) * G]
            }
            round += 1
            if trajectories.count >= B * G || round > config.maxResampleRounds {
                if trajectories.isEmpty { trajectories = Array(t[0..<G]) }   // nothing had signal: a no-op update
                break
            }
        }
        // Re-number groups in batch order (dynamic sampling may have mixed rounds).
        for i in trajectories.indices { trajectories[i].group = i / G }

        // 2. Advantages over ALL trajectories (filtered ones still count in their group's statistics).
        let rewards = trajectories.map(\.reward)
        let advantages = try groupAdvantages(rewards: rewards, groupSize: G, estimator: config.advantage)
        let filtered = applyFilters(trajectories, config.filter)
        let masks = try trajectories.indices.map {
            try lossMask(trajectories[$0], keep: filtered.keep[$0], maskToolTokens: config.filter.maskToolTokens)
        }

        // 3. Updates: M mini-batches over a shuffled order, micro-batched.
        var order = Array(trajectories.indices)
        rng.shuffle(&order)
        let miniSize = (order.count + config.miniBatches - 1) / config.miniBatches
        var gradNorms: [Double] = [], losses: [Double] = [], entropies: [Double] = []
        var lossStats = PolicyLossStats()
        var skipped = 0, computedSequences = 0
        var logprobSeconds = 0.0, updateSeconds = 0.0
        for mb in stride(from: 0, to: order.count, by: miniSize) {
            let t0 = Date()
            let members = Array(order[mb ..< min(order.count, mb + miniSize)])
            // The normalizer counts every member; the forward/backward can skip members that cannot contribute
            // gradient (fully masked, or advantage 0 without a KL term): the update is the same, the work less.
            let normalizer = try lossNormalizer(config.loss, batches: try members.map { i in
                var b = PolicyLossBatch()
                try b.append(trajectories[i], tokenMask: masks[i], advantage: advantages[i])
                return b
            })
            let active = members.filter { i in
                !config.skipZeroAdvantage || config.kl.beta > 0 || (advantages[i] != 0 && masks[i].contains { $0 != 0 })
            }
            let micros = stride(from: 0, to: active.count, by: config.microBatch).map { mc -> Packed in
                let ids = active[mc ..< min(active.count, mc + config.microBatch)]
                return pack(ids.map { trajectories[$0] }, masks: ids.map { masks[$0] }, advantages: ids.map { advantages[$0] })
            }
            optimizer.lr = config.optimizer.schedule.lr(step: optimizer.step, total: config.steps * config.miniBatches,
                                                        peak: config.optimizer.lr, warmup: config.optimizer.warmupSteps)
            policy.arena.zeroGrad()
            var lossSum = 0.0
            for packed in micros {
                let t1 = Date()
                let rows = packed.targets.count / packed.seqLen
                var logits = try policy.logits(tokens: packed.inputs, batch: rows, seqLen: packed.seqLen)
                let temperature = config.rollout.sampling.temperature
                if temperature > 0 && temperature != 1 { logits = scale(logits, 1 / temperature) }
                let logp = try gatherLogProbs(logits, targets: packed.targets)
                var (loss, stats) = try policyLoss(logp, batch: packed.batch, config: config.loss,
                                                   normalizer: normalizer)
                if let reference, config.kl.beta > 0 {
                    let refLogp = try noGrad {
                        try reference.tokenLogProbs(tokens: packed.inputs, targets: packed.targets, batch: rows,
                                                    seqLen: packed.seqLen, temperature: temperature)
                    }
                    let kl = try klPenalty(logp, refLogProbs: refLogp.array, mask: packed.batch.mask,
                                           estimator: config.kl.estimator, normalizer: normalizer)
                    loss = try add(loss, scale(kl, config.kl.beta))
                }
                logprobSeconds += Date().timeIntervalSince(t1)
                entropies.append(try maskedEntropy(logits: logits.data, rows: logits.shape[0], vocab: logits.shape[1],
                                                   mask: packed.batch.mask))
                try loss.backward()
                lossSum += Double(loss.item())
                lossStats.add(stats)
            }
            let norm = policy.arena.gradNorm()
            gradNorms.append(Double(norm))
            computedSequences += active.count
            losses.append(lossSum)
            if norm.isFinite && policy.arena.gradsAreFinite {
                policy.arena.clipGradNorm(maxNorm: config.optimizer.gradClip)
                optimizer.update()
            } else {
                skipped += 1     // a non-finite gradient never reaches the weights
            }
            updateSeconds += Date().timeIntervalSince(t0)
        }
        updateSeconds -= logprobSeconds
        step += 1

        // 4. Metrics.
        let n = Double(trajectories.count)
        let meanR = rewards.reduce(0.0) { $0 + Double($1) } / n
        let stdR = (rewards.reduce(0.0) { $0 + pow(Double($1) - meanR, 2) } / n).squareRoot()
        let policyMask = trajectories.map { t in t.roles.map { $0 == .policy ? Float(1) : 0 } }
        let low = try lowProbabilityFractions(samplingLogProbs: trajectories.flatMap(\.samplingLogProbs),
                                          mask: policyMask.flatMap { $0 })
        let (lowAfterTool, lowElsewhere) = lowProbabilityByPlacement(trajectories, threshold: 1e-3)
        let executed = trajectories.flatMap(\.turns).filter { $0.execution != .none }
        m["step"] = Double(step)
        m["reward_mean"] = meanR
        m["reward_std"] = stdR
        m["accuracy"] = Double(trajectories.filter(\.correct).count) / n
        m["grad_norm"] = gradNorms.reduce(0, +) / Double(max(1, gradNorms.count))
        m["grad_norm_max"] = gradNorms.max() ?? 0
        m["pg_loss"] = losses.reduce(0, +) / Double(max(1, losses.count))
        m["clip_frac_low"] = lossStats.clipFracLow
        m["clip_frac_high"] = lossStats.clipFracHigh
        m["dual_clip_frac"] = lossStats.dualClipFrac
        m["approx_kl"] = lossStats.approxKL
        m["masked_tokens"] = lossStats.maskedTokens
        m["entropy"] = entropies.reduce(0, +) / Double(max(1, entropies.count))
        m["response_length"] = Double(trajectories.map(\.policyTokenCount).reduce(0, +)) / n
        m["turns"] = Double(trajectories.map(\.turns.count).reduce(0, +)) / n
        m["tool_call_rate"] = Double(trajectories.filter { $0.toolCalls > 0 }.count) / n
        m["tool_calls"] = Double(trajectories.map(\.toolCalls).reduce(0, +)) / n
        m["exec_error_rate"] = executed.isEmpty ? 0 : Double(executed.filter { $0.execution != .ok }.count) / Double(executed.count)
        m["void_turn_ratio"] = Double(trajectories.filter(\.hasVoidTurn).count) / n
        m["filtered"] = Double(filtered.droppedVoid + filtered.droppedTruncated)
        m["filtered_void"] = Double(filtered.droppedVoid)
        m["filtered_truncated"] = Double(filtered.droppedTruncated)
        m["zero_std_groups"] = zeroSignalFraction
        m["low_prob_1e-3"] = Double(low[0])
        m["low_prob_1e-6"] = Double(low[1])
        m["low_prob_after_tool"] = lowAfterTool
        m["low_prob_elsewhere"] = lowElsewhere
        m["skipped_updates"] = Double(skipped)
        m["computed_fraction"] = Double(computedSequences) / n
        m["lr"] = Double(optimizer.lr)
        m["time_rollout"] = rolloutStats.totalSeconds - rolloutStats.sandboxSeconds
        m["time_sandbox"] = rolloutStats.sandboxSeconds
        m["time_logprob"] = logprobSeconds
        m["time_update"] = updateSeconds
        m["time_step"] = Date().timeIntervalSince(stepStart)
        m.merge(try batchMetrics(trajectories, advantages: advantages, masks: masks, loss: lossStats)) { own, _ in own }
        return m
    }

    /// A right-padded micro-batch: row b holds trajectory b's tokens[0..<L-1] as inputs and tokens[1..<L] as
    /// targets; the loss mask, old log-probs and advantage of target position j come from token j+1.
    struct Packed {
        var inputs: [Int32], targets: [Int32], seqLen: Int
        var batch: PolicyLossBatch
    }

    func pack(_ ts: [Trajectory], masks: [[Float]], advantages: [Float]) -> Packed {
        let T = max(1, ts.map { $0.tokens.count - 1 }.max() ?? 1)
        let n = ts.count * T
        var inputs = [Int32](repeating: ByteTokenizer.pad, count: n), targets = inputs
        var mask = [Float](repeating: 0, count: n), old = mask, adv = mask
        var seqs: [Range<Int>] = []
        for (b, t) in ts.enumerated() {
            let L = t.tokens.count
            for j in 0..<(L - 1) {
                let r = b * T + j
                inputs[r] = t.tokens[j]; targets[r] = t.tokens[j + 1]
                mask[r] = masks[b][j + 1]; old[r] = t.samplingLogProbs[j + 1]; adv[r] = advantages[b]
            }
            seqs.append(b * T ..< (b + 1) * T)
        }
        return Packed(inputs: inputs, targets: targets, seqLen: T,
                      batch: PolicyLossBatch(oldLogProbs: old, advantages: adv, mask: mask, sequences: seqs))
    }
}

/// Fraction of low-probability policy tokens among the first few policy tokens after a tool observation, and
/// among all other policy tokens (SimpleTIR's diagnosis: OOD feedback makes the next tokens unlikely).
public func lowProbabilityByPlacement(_ ts: [Trajectory], threshold: Float, window: Int = 4) -> (afterTool: Double, elsewhere: Double) {
    let logThreshold = logf(threshold)
    var after = (low: 0, all: 0), other = (low: 0, all: 0)
    for t in ts {
        var sinceTool = Int.max
        for i in t.tokens.indices {
            switch t.roles[i] {
            case .tool: sinceTool = 0
            case .prompt: continue
            case .policy:
                let isLow = t.samplingLogProbs[i] < logThreshold ? 1 : 0
                if sinceTool < window { after.low += isLow; after.all += 1 } else { other.low += isLow; other.all += 1 }
                if sinceTool != Int.max { sinceTool += 1 }
            }
        }
    }
    return (Double(after.low) / Double(max(1, after.all)), Double(other.low) / Double(max(1, other.all)))
}
