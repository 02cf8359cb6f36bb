import Foundation
import Model

/// Corrections for a sampler that is not the trainer (another engine, reduced precision): with old log-probs
/// recomputed by the trainer, rho_i = exp(old_i - behaviour_i) says how much more (or less) likely the
/// trainer finds a token than the sampler that drew it. The PPO ratio stays new / old; rho reweights each
/// token's loss by a constant (no gradient flows through it).
public enum ImportanceCorrection: String, Codable, CaseIterable, Sendable {
    case none
    /// Truncated importance sampling (Yao et al. 2025; verl `tis_imp_ratio_cap`): w = min(rho, tisCap).
    case tis
    /// Masked importance sampling (Liu, Li et al. 2025, "When Speed Kills Stability"; IcePop): w = rho when
    /// misLow <= rho <= misHigh, else 0 (the token is dropped: no loss, no gradient; it stays in the normalizer).
    case mis
}

/// Old log-probs and the sampler/trainer correction: the `correction` section of a GRPO config.
public struct ImportanceCorrectionConfig: Codable, Equatable, Sendable {
    /// Old log-probs from one no-grad trainer forward before the first update (verl), instead of the
    /// sampler's behaviour log-probs.
    public var recomputeOldLogProbs = false
    public var mode: ImportanceCorrection = .none
    public var tisCap: Float = 2
    public var misLow: Float = 0.5
    public var misHigh: Float = 2

    public init(mode: ImportanceCorrection = .none, tisCap: Float = 2, misLow: Float = 0.5, misHigh: Float = 2,
                recomputeOldLogProbs: Bool = false) {
        self.mode = mode; self.tisCap = tisCap; self.misLow = misLow; self.misHigh = misHigh
        self.recomputeOldLogProbs = recomputeOldLogProbs
    }

    public func validate(_ check: FieldCheck = FieldCheck("correction")) throws {
        try check.require(mode == .none || recomputeOldLogProbs, "mode",
                          "none unless correction.recomputeOldLogProbs is true (\(mode.rawValue) compares the trainer's old log-probs with the sampler's)",
                          got: mode.rawValue)
        try check.number("tisCap", tisCap, 1...1000)
        try check.number("misLow", misLow, 0...1, openLow: true)
        try check.number("misHigh", misHigh, 1...1000)
    }

    /// The weight of a row with rho = exp(old - behaviour).
    public func weight(rho: Float) -> Float {
        switch mode {
        case .none: return 1
        case .tis: return min(rho, tisCap)
        case .mis: return rho >= misLow && rho <= misHigh ? rho : 0
        }
    }
}

/// Sums over loss rows of the importance weights, merged over micro-batches (verl `rollout_corr/` metrics).
public struct ImportanceStats: Sendable, Codable, Equatable {
    public var rows = 0.0, weightSum = 0.0, weightMax = 0.0, above = 0.0, below = 0.0, k1Sum = 0.0

    public init() {}

    public mutating func add(_ o: ImportanceStats) {
        rows += o.rows; weightSum += o.weightSum; weightMax = max(weightMax, o.weightMax)
        above += o.above; below += o.below; k1Sum += o.k1Sum
    }

    public var metrics: [String: Double] {
        guard rows > 0 else { return [:] }
        return ["rollout_corr/rollout_is_mean": weightSum / rows, "rollout_corr/rollout_is_max": weightMax,
                "rollout_corr/rollout_is_ratio_fraction_high": above / rows,
                "rollout_corr/rollout_is_ratio_fraction_low": below / rows,
                "rollout_corr/kl": k1Sum / rows]
    }
}

/// Sets `batch.isWeights` from its old and behaviour log-probs (all 1 for `.none`, which returns no stats).
/// High/low fractions count rows whose rho lies above the upper bound (tisCap or misHigh) or below misLow.
/// rho is computed from a log ratio clamped to [-20, 20], as the PPO ratio.
@discardableResult
public func applyImportanceCorrection(_ batch: inout PolicyLossBatch, _ config: ImportanceCorrectionConfig) -> ImportanceStats {
    var stats = ImportanceStats()
    guard config.mode != .none else { batch.isWeights = []; return stats }
    let upper = config.mode == .tis ? config.tisCap : config.misHigh
    batch.isWeights = [Float](repeating: 1, count: batch.count)
    for i in 0..<batch.count where batch.mask[i] != 0 {
        let d = batch.oldLogProbs[i] - batch.behaviourLogProbs[i]
        let rho = expf(min(max(d, -20), 20))
        let w = config.weight(rho: rho)
        batch.isWeights[i] = w
        stats.rows += 1; stats.weightSum += Double(w); stats.weightMax = max(stats.weightMax, Double(w))
        if rho > upper { stats.above += 1 }
        if config.mode == .mis && rho < config.misLow { stats.below += 1 }
        stats.k1Sum += Double(-d)
    }
    return stats
}

/// Sampler/trainer probability mismatch over loss rows (verl's `training/rollout_probs_diff_*` and
/// `training/rollout_actor_probs_pearson_corr`): p_rollout = exp(behaviour), p_trainer = exp(old recomputed).
public struct ProbabilityMismatch: Sendable, Equatable {
    var n = 0.0, sumDiff = 0.0, sumDiffSq = 0.0, maxDiff = 0.0
    var sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0

    public init() {}

    public mutating func add(rollout: Float, trainer: Float) {
        let x = Double(expf(rollout)), y = Double(expf(trainer)), d = abs(x - y)
        n += 1; sumDiff += d; sumDiffSq += d * d; maxDiff = max(maxDiff, d)
        sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y
    }

    /// Adds the rows with a non-zero mask (the arrays are row-aligned).
    public mutating func add(rollout: [Float], trainer: [Float], mask: [Float]) {
        for i in mask.indices where mask[i] != 0 { add(rollout: rollout[i], trainer: trainer[i]) }
    }

    public var pearson: Double {
        let cov = n * sxy - sx * sy, vx = n * sxx - sx * sx, vy = n * syy - sy * sy
        return vx > 0 && vy > 0 ? cov / (vx * vy).squareRoot() : .nan
    }

    public var metrics: [String: Double] {
        guard n > 0 else { return [:] }
        let mean = sumDiff / n
        return ["training/rollout_probs_diff_mean": mean, "training/rollout_probs_diff_max": maxDiff,
                "training/rollout_probs_diff_std": n > 1 ? (max(0, sumDiffSq - n * mean * mean) / (n - 1)).squareRoot() : .nan,
                "training/rollout_actor_probs_pearson_corr": pearson]
    }
}
