import Foundation

/// One metric: its key in metrics.jsonl and TensorBoard, what it measures, and the key runs written before
/// the verl names used (nil: the key never changed, or the metric is new).
public struct MetricName: Sendable {
    public let key: String
    public let meaning: String
    public let legacy: String?

    init(_ key: String, _ meaning: String, legacy: String? = nil) {
        self.key = key; self.meaning = meaning; self.legacy = legacy
    }
}

/// The one table of metric names. verl's names where verl logs the same quantity, SimpleTIR's `env/` names
/// for its turn statistics, `tir/` for this project's own. The GRPO trainer still computes the legacy keys;
/// `current` renames them where a run's metrics are logged and where old files are read, so there is one
/// vocabulary everywhere after the trainer. docs/METRICS.md shows this table (a test keeps them equal).
public enum MetricNames {
    /// Every key of a GRPO step's metrics line.
    public static let grpo: [MetricName] = [
        MetricName("step", "GRPO step, 1-based (the TensorBoard step too)"),
        MetricName("actor/pg_loss", "clipped-surrogate policy loss, mean over the step's mini-batch updates", legacy: "pg_loss"),
        MetricName("actor/pg_clipfrac", "fraction of loss tokens whose ratio the PPO clip holds: A > 0 and ratio > 1 + eps_high, or A < 0 and ratio < 1 - eps_low"),
        MetricName("actor/pg_clipfrac_lower", "fraction of loss tokens held by the dual-clip bound (A < 0 and ratio > c)", legacy: "dual_clip_frac"),
        MetricName("actor/ppo_kl", "mean of old minus new log-prob over loss tokens (k1 estimate of KL(old || new))"),
        MetricName("actor/entropy", "mean entropy of the next-token distribution over loss tokens, mean over micro-batches", legacy: "entropy"),
        MetricName("actor/grad_norm", "global gradient norm before clipping, mean over the step's updates", legacy: "grad_norm"),
        MetricName("actor/lr", "learning rate of the step's last update", legacy: "lr"),
        MetricName("critic/score/mean", "trajectory reward (task reward plus format and tool terms), mean over the batch", legacy: "reward_mean"),
        MetricName("critic/score/max", "largest trajectory reward of the batch"),
        MetricName("critic/score/min", "smallest trajectory reward of the batch"),
        MetricName("critic/rewards/mean", "reward after in-reward KL; equal to critic/score/mean here (KL is a loss term, never a reward penalty)", legacy: "reward_mean"),
        MetricName("critic/rewards/max", "equal to critic/score/max (see critic/rewards/mean)"),
        MetricName("critic/rewards/min", "equal to critic/score/min (see critic/rewards/mean)"),
        MetricName("critic/advantages/mean", "group advantage, mean over loss tokens (each trajectory weighted by its loss tokens)"),
        MetricName("critic/advantages/max", "largest advantage of a trajectory with loss tokens"),
        MetricName("critic/advantages/min", "smallest advantage of a trajectory with loss tokens"),
        MetricName("response_length/mean", "policy-written tokens per trajectory (tool-output tokens excluded), mean", legacy: "response_length"),
        MetricName("response_length/max", "policy-written tokens of the longest trajectory"),
        MetricName("response_length/min", "policy-written tokens of the shortest trajectory"),
        MetricName("response_length/clip_ratio", "fraction of trajectories stopped by a token limit (per turn, per trajectory or the context)"),
        MetricName("num_turns/mean", "policy turns per trajectory, mean", legacy: "turns"),
        MetricName("num_turns/max", "policy turns of the trajectory with the most"),
        MetricName("num_turns/min", "policy turns of the trajectory with the fewest"),
        MetricName("tool_call_counts/mean", "executed code blocks per trajectory, mean", legacy: "tool_calls"),
        MetricName("env/void_turn_ratio", "fraction of trajectories with a void turn (neither a complete code block nor an answer)", legacy: "void_turn_ratio"),
        MetricName("env/code_use_ratio", "turns with a complete code block / turns, mean over trajectories (SimpleTIR)"),
        MetricName("env/valid_code_ratio", "turns whose code ran without error / turns, mean over trajectories (SimpleTIR)"),
        MetricName("tir/accuracy", "fraction of the batch's trajectories with a correct final answer", legacy: "accuracy"),
        MetricName("tir/score_std", "standard deviation of the trajectory reward over the batch", legacy: "reward_std"),
        MetricName("tir/grad_norm_max", "largest pre-clip gradient norm of the step's updates", legacy: "grad_norm_max"),
        MetricName("tir/pg_clipfrac_low", "fraction of loss tokens with A < 0 and ratio < 1 - eps_low (one side of actor/pg_clipfrac)", legacy: "clip_frac_low"),
        MetricName("tir/pg_clipfrac_high", "fraction of loss tokens with A > 0 and ratio > 1 + eps_high (the other side)", legacy: "clip_frac_high"),
        MetricName("tir/approx_kl_k3", "mean k3 estimate exp(d) - 1 - d of KL(old || new) over loss tokens, d = new - old log-prob", legacy: "approx_kl"),
        MetricName("tir/loss_tokens", "loss-mask weight summed over the step's updates", legacy: "masked_tokens"),
        MetricName("tir/tool_call_rate", "fraction of trajectories with at least one tool call", legacy: "tool_call_rate"),
        MetricName("tir/exec_error_rate", "fraction of executed code blocks that failed (error, timeout or limit)", legacy: "exec_error_rate"),
        MetricName("tir/filtered", "trajectories whose loss mask the filters cleared (void and truncated)", legacy: "filtered"),
        MetricName("tir/filtered_void", "trajectories cleared by the void-turn filter", legacy: "filtered_void"),
        MetricName("tir/filtered_truncated", "trajectories cleared by the truncation filter", legacy: "filtered_truncated"),
        MetricName("tir/zero_std_groups", "fraction of the first sampling round's groups whose rewards are all equal (no signal)", legacy: "zero_std_groups"),
        MetricName("tir/low_prob/1e-3", "fraction of policy tokens sampled with probability < 1e-3", legacy: "low_prob_1e-3"),
        MetricName("tir/low_prob/1e-6", "fraction of policy tokens sampled with probability < 1e-6", legacy: "low_prob_1e-6"),
        MetricName("tir/low_prob/after_tool", "the 1e-3 fraction among the first 4 policy tokens after a tool observation", legacy: "low_prob_after_tool"),
        MetricName("tir/low_prob/elsewhere", "the 1e-3 fraction among all other policy tokens", legacy: "low_prob_elsewhere"),
        MetricName("tir/skipped_updates", "updates skipped for a non-finite gradient", legacy: "skipped_updates"),
        MetricName("tir/computed_fraction", "fraction of trajectories the updates ran forward/backward on (the rest cannot contribute gradient)", legacy: "computed_fraction"),
        MetricName("timing_s/step", "wall-clock seconds of the step", legacy: "time_step"),
        MetricName("tir/timing_s/rollout", "seconds of rollout outside the sandbox (decoding)", legacy: "time_rollout"),
        MetricName("tir/timing_s/sandbox", "seconds waiting for code execution", legacy: "time_sandbox"),
        MetricName("tir/timing_s/logprob", "seconds of forward passes, log-probs and losses in the updates", legacy: "time_logprob"),
        MetricName("tir/timing_s/update", "seconds of backward passes, clipping and AdamW", legacy: "time_update"),
        MetricName("tir/timing_s/allreduce", "seconds of summing gradients and statistics over MPI ranks (data parallel only)"),
        // The instability levers and the gradient attribution (docs/INSTABILITY.md).
        MetricName("tir/logit_grad_norm", "sqrt of the sum over loss tokens of (1 - 2p + sum pi^2) x (d loss / d logp)^2, the norm of the loss's logits gradient, mean over updates (docs/INSTABILITY.md)"),
        MetricName("tir/lowprob_grad_share", "share of the step's logit-gradient mass on loss tokens sampled with p < 1e-3"),
        MetricName("tir/grad_share_p_ge_0.5", "the same share for loss tokens sampled with p >= 0.5"),
        MetricName("tir/grad_share_p_0.1_0.5", "the same share for 0.1 <= p < 0.5"),
        MetricName("tir/grad_share_p_1e-3_0.1", "the same share for 1e-3 <= p < 0.1"),
        MetricName("tir/grad_share_after_tool", "share of the logit-gradient mass on the first 4 policy tokens after a tool observation"),
        MetricName("tir/grad_share_void", "share on policy tokens of void turns (not after a tool)"),
        MetricName("tir/grad_share_tool", "share on tool-output tokens (non-zero only with maskToolTokens off)"),
        MetricName("tir/grad_share_other", "share on all other loss tokens"),
        MetricName("tir/grad_share_adv_pos", "share on tokens of trajectories with a positive advantage"),
        MetricName("tir/grad_share_adv_neg", "share on tokens of trajectories with a negative advantage"),
        MetricName("tir/clipped_grad_share", "of the mass the loss tokens would carry unclipped, the share the PPO clip removed"),
        MetricName("tir/lowprob_token_share", "fraction of loss tokens sampled with p < 1e-3"),
        MetricName("training/rollout_probs_diff_mean", "mean of abs(p_rollout - p_trainer) over loss tokens (recomputeOldLogProbs only)"),
        MetricName("training/rollout_probs_diff_max", "largest abs(p_rollout - p_trainer) over loss tokens (recomputeOldLogProbs only)"),
        MetricName("training/rollout_probs_diff_std", "standard deviation of abs(p_rollout - p_trainer) over loss tokens (recomputeOldLogProbs only)"),
        MetricName("training/rollout_actor_probs_pearson_corr", "Pearson correlation of sampler and trainer probabilities over loss tokens (recomputeOldLogProbs only)"),
        MetricName("rollout_corr/rollout_is_mean", "mean TIS/MIS importance weight over loss tokens (importanceCorrection only)"),
        MetricName("rollout_corr/rollout_is_max", "largest importance weight"),
        MetricName("rollout_corr/rollout_is_ratio_fraction_high", "fraction of loss tokens whose rho = exp(old - behaviour) exceeds tisCap (TIS) or misHigh (MIS)"),
        MetricName("rollout_corr/rollout_is_ratio_fraction_low", "fraction of loss tokens whose rho is below misLow (MIS)"),
        MetricName("rollout_corr/kl", "mean behaviour minus old log-prob over loss tokens (k1 estimate of KL(rollout, trainer))"),
        MetricName("tir/retokenized_turns", "turns per trajectory whose ids the decode / re-tokenize round trip changed (rollout.retokenizeTurns only)"),
        MetricName("timing_s/old_log_prob", "seconds of the no-grad old-log-prob pass (recomputeOldLogProbs only)"),
    ]

    /// The scalars of a pretraining run (TensorBoard only; verl's SFT trainer names).
    public static let pretrain: [MetricName] = [
        MetricName("train/loss", "next-token cross-entropy of the step's batch"),
        MetricName("train/lr", "learning rate of the step"),
        MetricName("val/loss", "cross-entropy on the fixed held-out batches (every evalEvery steps)"),
        MetricName("tir/tokens_per_s", "training tokens per second since this process started"),
    ]

    /// legacy key -> current keys (reward_mean feeds both critic/score/mean and critic/rewards/mean).
    static let renames: [String: [String]] = {
        var r: [String: [String]] = [:]
        for n in grpo { if let l = n.legacy { r[l, default: []].append(n.key) } }
        return r
    }()

    /// A metrics line under the current names: legacy keys renamed, every other key kept as it is (current
    /// names, and keys this table does not know yet). A current key already present wins over a renamed one.
    public static func current(_ m: [String: Double]) -> [String: Double] {
        var out: [String: Double] = [:]
        for (k, v) in m where renames[k] == nil { out[k] = v }
        for (k, v) in m {
            for new in renames[k] ?? [] where out[new] == nil { out[new] = v }
        }
        return out
    }

    /// The current key for a name given either way (`grad_norm` -> `actor/grad_norm`); unknown names as given.
    public static func resolve(_ name: String) -> String { renames[name]?.first ?? name }

    /// Wall-clock figures: the only keys that differ between two runs of the same seed.
    public static func isTiming(_ key: String) -> Bool { key.hasPrefix("timing_s/") || key.hasPrefix("tir/timing_s/") }
}
