import Foundation
import Rollout

extension GRPOTrainer {
    /// 4. Metrics: one JSONL line per step. The `tir/` keys are the gradient attribution, `training/` and
    /// `rollout_corr/` (verl's names) appear only with recomputed old log-probs / a rollout correction.
    func metrics(_ rollout: RolloutBatch, _ p: PreparedBatch, _ u: UpdateResult, seconds: Double) throws -> [String: Double] {
        let trajectories = rollout.trajectories
        func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(max(1, xs.count)) }
        var m: [String: Double] = [:]
        let n = Double(trajectories.count)
        let rewards = trajectories.map { Double($0.reward) }
        let meanR = rewards.reduce(0, +) / n
        let policyMask = trajectories.flatMap { t in t.roles.map { $0 == .policy ? Float(1) : 0 } }
        let low = (try? lowProbabilityFractions(samplingLogProbs: trajectories.flatMap(\.samplingLogProbs), mask: policyMask))
            ?? [.nan, .nan]
        let (lowAfterTool, lowElsewhere) = lowProbabilityByPlacement(trajectories, threshold: 1e-3)
        let stats = TrajectoryStats(trajectories)
        m["step"] = Double(step)
        m["reward_mean"] = meanR
        m["reward_std"] = (rewards.reduce(0.0) { $0 + pow($1 - meanR, 2) } / n).squareRoot()
        m["accuracy"] = stats.accuracy
        m["grad_norm"] = mean(u.gradNorms)
        m["grad_norm_max"] = u.gradNorms.max() ?? 0
        m["pg_loss"] = mean(u.losses)
        m["clip_frac_low"] = u.lossStats.clipFracLow
        m["clip_frac_high"] = u.lossStats.clipFracHigh
        m["dual_clip_frac"] = u.lossStats.dualClipFrac
        m["approx_kl"] = u.lossStats.approxKL
        m["masked_tokens"] = u.lossStats.maskedTokens
        m["entropy"] = u.entropies.isEmpty ? .nan : mean(u.entropies)   // no update: no loss tokens
        m["response_length"] = stats.meanLength
        m["turns"] = stats.meanTurns
        m["tool_call_rate"] = stats.toolCallRate
        m["tool_calls"] = stats.meanToolCalls
        m["exec_error_rate"] = stats.execErrorRate
        m["void_turn_ratio"] = stats.voidTurnRate
        m["filtered"] = Double(p.droppedVoid + p.droppedTruncated)
        m["filtered_void"] = Double(p.droppedVoid)
        m["filtered_truncated"] = Double(p.droppedTruncated)
        m["zero_std_groups"] = rollout.zeroSignalFraction
        m["low_prob_1e-3"] = Double(low[0])
        m["low_prob_1e-6"] = Double(low[1])
        m["low_prob_after_tool"] = lowAfterTool
        m["low_prob_elsewhere"] = lowElsewhere
        m["skipped_updates"] = Double(u.skipped)
        m["computed_fraction"] = Double(u.computedSequences) / n / Double(config.ppoEpochs)
        m["lr"] = Double(optimizer.lr)
        m["time_rollout"] = rollout.stats.totalSeconds - rollout.stats.sandboxSeconds
        m["time_sandbox"] = rollout.stats.sandboxSeconds
        m["time_logprob"] = u.logprobSeconds
        m["time_update"] = u.updateSeconds
        if cluster.size > 1 { m["tir/timing_s/allreduce"] = u.allreduceSeconds }
        m["time_step"] = seconds
        if config.rollout.retokenizeTurns { m["tir/retokenized_turns"] = Double(rollout.stats.retokenizedTurns) / n }
        m["tir/logit_grad_norm"] = mean(u.logitGradNorms)
        m.merge(u.attribution.metrics) { a, _ in a }
        if config.correction.recomputeOldLogProbs {
            m["timing_s/old_log_prob"] = p.recomputeSeconds
            m.merge(p.mismatch.metrics) { a, _ in a }
        }
        m.merge(u.importance.metrics) { a, _ in a }
        m.merge(try batchMetrics(trajectories, advantages: p.advantages, masks: p.masks, loss: u.lossStats)) { own, _ in own }
        return m
    }
}
