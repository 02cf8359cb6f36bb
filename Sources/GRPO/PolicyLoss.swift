import Foundation
import Model
import Rollout
import Tensor

/// How per-token losses become one scalar (verl's `agg_loss` modes).
public enum LossAggregation: String, Codable, CaseIterable, Sendable {
    /// sum(loss * mask) / sum(mask) over the whole mini-batch (verl "token-mean", DAPO's token-level loss).
    case tokenMean
    /// mean over sequences of the per-sequence token mean (verl "seq-mean-token-mean", original GRPO).
    case seqMeanTokenMean
    /// mean over sequences of the per-sequence token sum (verl "seq-mean-token-sum").
    case seqMeanTokenSum
    /// sum(loss * mask) / constant (verl "seq-mean-token-sum-norm", Dr. GRPO's MAX_TOKENS normalizer).
    case drGRPO
}

/// Clipped-surrogate settings. Defaults: clip-higher 0.2 / 0.28 (DAPO), dual-clip c = 3, token-mean.
public struct PolicyLossConfig: Codable, Equatable, Sendable {
    /// Lower clip: ratio is clipped at 1 - epsLow (for negative advantages). In [0, 1).
    public var epsLow: Float = 0.2
    /// Upper clip: ratio is clipped at 1 + epsHigh (for positive advantages). >= 0.
    public var epsHigh: Float = 0.28
    /// Dual-clip bound c > 1 for negative advantages (loss capped at -c * A); nil (JSON null) turns it off.
    public var dualClip: Float? = 3
    /// Loss aggregation mode.
    public var aggregation: LossAggregation = .tokenMean
    /// The constant of `.drGRPO` aggregation, e.g. the max response tokens. verl divides the sum over the
    /// whole batch by it (no mean over sequences); to get Dr. GRPO's per-sequence mean set it to
    /// max tokens x sequences per mini-batch.
    public var drGRPONormalizer: Float = 256

    public init(epsLow: Float = 0.2, epsHigh: Float = 0.28, dualClip: Float? = 3,
                aggregation: LossAggregation = .tokenMean, drGRPONormalizer: Float = 256) {
        self.epsLow = epsLow
        self.epsHigh = epsHigh
        self.dualClip = dualClip
        self.aggregation = aggregation
        self.drGRPONormalizer = drGRPONormalizer
    }

    public func validate(_ check: FieldCheck = FieldCheck("loss")) throws {
        try check.number("epsLow", epsLow, 0...0.999)
        try check.number("epsHigh", epsHigh, 0...10)
        if let c = dualClip {
            try check.require(c.isFinite && c > 1 && c <= 1e6, "dualClip", "in (1, 1e6] (verl asserts clip_ratio_c > 1), or null to turn it off", got: c)
        }
        try check.number("drGRPONormalizer", drGRPONormalizer, 0...1e9, openLow: true)
    }

    enum CodingKeys: String, CodingKey { case epsLow, epsHigh, dualClip, aggregation, drGRPONormalizer }

    /// Writes `"dualClip": null` when it is off, so the key is always present (decoding is synthesized:
    /// `ConfigCoding` merges a file over these defaults, so every key is there).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(epsLow, forKey: .epsLow)
        try c.encode(epsHigh, forKey: .epsHigh)
        if let d = dualClip { try c.encode(d, forKey: .dualClip) } else { try c.encodeNil(forKey: .dualClip) }
        try c.encode(aggregation, forKey: .aggregation)
        try c.encode(drGRPONormalizer, forKey: .drGRPONormalizer)
    }
}

/// A packed micro-batch: row i is one predicted token; rows of several sequences follow each other.
/// All per-row arrays have the same length N as the log-prob tensor given to `policyLoss`.
public struct PolicyLossBatch: Sendable {
    /// Log-prob of row i's token under the old policy: the behaviour log-prob, or one recomputed by the trainer.
    public var oldLogProbs: [Float]
    /// Advantage of row i (its sequence's advantage, broadcast).
    public var advantages: [Float]
    /// Loss mask / weight of row i (>= 0; 0 = no loss and exactly no gradient).
    public var mask: [Float]
    /// Row range of each sequence, in order, disjoint. Rows outside every range must have mask 0.
    public var sequences: [Range<Int>]
    /// Per sequence, the rows of the prefix it shares with others (`appendSharingPrefix`), or nil: its first
    /// rows are those, then its own. Prefix rows belong to no sequence (mask 0).
    public var prefixes: [Range<Int>?] = []
    /// Importance weight of row i's loss (a rollout correction, see `ImportanceCorrection`); empty = all 1.
    public var isWeights: [Float]
    /// Filled by `append`, not used by `policyLoss`: the input token of row i (what the forward reads), its
    /// target token (for `gatherLogProbs`), the target's behaviour log-prob (what the sampler assigned it)
    /// and its place in the episode (for the gradient attribution).
    public var inputs: [Int32]
    public var targets: [Int32]
    public var behaviourLogProbs: [Float]
    public var places: [TokenPlace]

    public init(oldLogProbs: [Float] = [], advantages: [Float] = [], mask: [Float] = [],
                sequences: [Range<Int>] = [], targets: [Int32] = [], isWeights: [Float] = []) {
        self.oldLogProbs = oldLogProbs
        self.advantages = advantages
        self.mask = mask
        self.sequences = sequences
        self.targets = targets
        self.isWeights = isWeights
        inputs = []
        behaviourLogProbs = []
        places = []
    }

    public var count: Int { mask.count }

    /// THE packing of a trajectory of L tokens into next-token rows: row j (j < L - 1) reads input tokens[j]
    /// and predicts tokens[j+1] (logits row j is the model's output after input token j), so it takes target
    /// tokens[j+1], mask tokenMask[j+1] (from `lossMask`, aligned with the tokens), old log-prob
    /// oldLogProbs[j+1] (default: the behaviour log-probs t.samplingLogProbs) and behaviour log-prob
    /// samplingLogProbs[j+1]. With `rows` > L - 1 the sequence is right-padded to `rows` rows (pad input, mask 0),
    /// the layout of one row of a [batch, rows] forward.
    public mutating func append(_ t: Trajectory, tokenMask: [Float], advantage: Float, oldLogProbs old: [Float]? = nil,
                                rows: Int? = nil) throws {
        let n = t.tokens.count
        try require(n >= 2, "PolicyLossBatch.append: trajectory \(t.taskId) has \(n) token(s); need >= 2 to predict one")
        try require(tokenMask.count == n && t.samplingLogProbs.count == n && t.roles.count == n && (old?.count ?? n) == n,
                    "PolicyLossBatch.append: trajectory \(t.taskId) has \(n) tokens but \(tokenMask.count) mask values, "
                    + "\(t.roles.count) roles, \(t.samplingLogProbs.count) sampling log-probs and \(old?.count ?? n) old log-probs")
        let width = rows ?? (n - 1)
        try require(width >= n - 1, "PolicyLossBatch.append: \(n - 1) rows of trajectory \(t.taskId) do not fit in \(width)")
        let start = count
        appendRows(t, 0..<(n - 1), mask: tokenMask, advantage: advantage, oldLogProbs: old ?? t.samplingLogProbs,
                   padding: width - (n - 1))
        sequences.append(start..<(start + width))
        prefixes.append(nil)
    }

    /// Appends trajectories that begin with the same tokens (a group's prompt), computing their shared first
    /// rows once: `shared` rows (row j predicts token j + 1, mask 0 in every member) that no sequence owns,
    /// then each member's own rows, a sequence whose prefix they are. The forward's `attentionLayout` lets
    /// each member's rows see the shared ones, so every row's log-prob is what `append` would give it.
    /// `shared` must be at most `sharedPrefixRows` of the members.
    public mutating func appendSharingPrefix(_ members: [(trajectory: Trajectory, tokenMask: [Float], advantage: Float,
                                                          oldLogProbs: [Float])], shared: Int) throws {
        guard let first = members.first else { return }
        try require(shared <= Self.sharedPrefixRows(members.map { ($0.trajectory.tokens, $0.tokenMask) }),
                    "PolicyLossBatch.appendSharingPrefix: \(shared) rows are not shared by every member with mask 0")
        for m in members {
            let t = m.trajectory, n = t.tokens.count
            try require(n >= 2 && m.tokenMask.count == n && t.samplingLogProbs.count == n && t.roles.count == n
                        && m.oldLogProbs.count == n,
                        "PolicyLossBatch.appendSharingPrefix: trajectory \(t.taskId) has \(n) tokens, \(m.tokenMask.count) "
                        + "mask values, \(t.roles.count) roles, \(t.samplingLogProbs.count) sampling and \(m.oldLogProbs.count) old log-probs")
        }
        let prefix = count..<(count + shared)
        if shared > 0 {
            appendRows(first.trajectory, 0..<shared, mask: first.tokenMask, advantage: 0, oldLogProbs: first.oldLogProbs,
                       padding: 0)
        }
        for m in members {
            let start = count
            appendRows(m.trajectory, shared..<(m.trajectory.tokens.count - 1), mask: m.tokenMask, advantage: m.advantage,
                       oldLogProbs: m.oldLogProbs, padding: 0)
            sequences.append(start..<count)
            prefixes.append(shared > 0 ? prefix : nil)
        }
    }

    /// How many first rows trajectories (tokens, loss mask) can share: rows j whose input and target tokens
    /// (j and j + 1) are the same in all of them and whose target has mask 0 in all of them, leaving each at
    /// least one row of its own.
    public static func sharedPrefixRows(_ members: [(tokens: [Int32], mask: [Float])]) -> Int {
        guard let first = members.first else { return 0 }
        var s = members.map { $0.tokens.count - 2 }.min() ?? 0
        for m in members {
            var j = 0
            while j < s && m.tokens[j + 1] == first.tokens[j + 1] && m.tokens[j] == first.tokens[j] && m.mask[j + 1] == 0 { j += 1 }
            s = j
        }
        return max(0, s)
    }

    /// Rows for targets tokens[j + 1], j in `js`, then `padding` rows that read and predict token 0 under mask 0
    /// (any id in the vocabulary would do).
    private mutating func appendRows(_ t: Trajectory, _ js: Range<Int>, mask tokenMask: [Float], advantage: Float,
                                     oldLogProbs old: [Float], padding pad: Int) {
        let targetsAt = (js.lowerBound + 1)..<(js.upperBound + 1)
        inputs += t.tokens[js]; inputs += repeatElement(0, count: pad)
        targets += t.tokens[targetsAt]; targets += repeatElement(0, count: pad)
        mask += tokenMask[targetsAt]; mask += repeatElement(0, count: pad)
        oldLogProbs += old[targetsAt]; oldLogProbs += repeatElement(0, count: pad)
        behaviourLogProbs += t.samplingLogProbs[targetsAt]; behaviourLogProbs += repeatElement(0, count: pad)
        places += tokenPlaces(t)[targetsAt]; places += repeatElement(.other, count: pad)
        advantages += repeatElement(advantage, count: js.count + pad)
        if !isWeights.isEmpty { isWeights += repeatElement(1, count: js.count + pad) }
    }

    /// The row holding the log-prob of token j + 1 of sequence k (its shared prefix's row for the first ones).
    public func row(sequence k: Int, predicting j: Int) -> Int {
        let shared = prefix(of: k)
        if let shared, j < shared.count { return shared.lowerBound + j }
        return sequences[k].lowerBound + j - (shared?.count ?? 0)
    }

    /// Sequence k's shared prefix rows, if it has one (a batch built by hand may leave `prefixes` empty).
    func prefix(of k: Int) -> Range<Int>? { k < prefixes.count ? prefixes[k] : nil }

    /// The forward's attention layout: each sequence a segment, after the shared prefix it reads; rows outside
    /// every sequence (shared prefixes) segments of their own.
    public var attentionLayout: AttentionLayout {
        var layout = AttentionLayout()
        var spans = sequences.indices.map { (rows: sequences[$0], prefix: prefix(of: $0)) }
        for p in Set(prefixes.compactMap { $0 }) { spans.append((p, nil)) }
        spans.sort { $0.rows.lowerBound < $1.rows.lowerBound }
        for s in spans {
            if s.rows.lowerBound > layout.rows { layout.append(rows: s.rows.lowerBound - layout.rows) }   // rows of no sequence
            layout.append(rows: s.rows.count, prefix: s.prefix)
        }
        if count > layout.rows { layout.append(rows: count - layout.rows) }
        return layout
    }

    /// Throws unless the arrays have `rows` entries, masks are finite and >= 0, and sequences are
    /// ordered, disjoint, in bounds, and cover every row with a non-zero mask.
    public func validate(rows: Int) throws {
        try require(oldLogProbs.count == rows && advantages.count == rows && mask.count == rows,
                    "PolicyLossBatch: \(rows) log-prob rows but \(oldLogProbs.count) old log-probs, "
                    + "\(advantages.count) advantages, \(mask.count) mask values")
        try require(isWeights.isEmpty || isWeights.count == rows,
                    "PolicyLossBatch: \(rows) log-prob rows but \(isWeights.count) importance weights")
        if let i = isWeights.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
            throw GRPOError("PolicyLossBatch: isWeights[\(i)] = \(isWeights[i]); importance weights must be finite and >= 0")
        }
        if let i = mask.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
            throw GRPOError("PolicyLossBatch: mask[\(i)] = \(mask[i]); masks must be finite and >= 0")
        }
        var next = 0
        for (k, s) in sequences.enumerated() {
            try require(s.lowerBound >= next && s.upperBound <= rows,
                        "PolicyLossBatch: sequence \(k) rows \(s) overlaps the previous one or leaves 0..<\(rows); "
                        + "sequences must be ordered and disjoint")
            for i in next..<s.lowerBound where mask[i] != 0 {
                throw GRPOError("PolicyLossBatch: row \(i) has mask \(mask[i]) but belongs to no sequence")
            }
            next = s.upperBound
        }
        for i in next..<rows where mask[i] != 0 {
            throw GRPOError("PolicyLossBatch: row \(i) has mask \(mask[i]) but belongs to no sequence")
        }
    }
}

/// Statistics of one `policyLoss` call. Counts are sums so micro-batches merge with `add`.
public struct PolicyLossStats: Equatable, Sendable, Codable {
    /// The returned loss value (micro-batch losses with a shared normalizer sum to the mini-batch loss).
    public var pgLoss: Double = 0
    /// Sum of the mask (= number of loss tokens for a 0/1 mask).
    public var maskedTokens: Double = 0
    /// Sequences with a non-zero mask.
    public var sequences: Int = 0
    /// Mask-weighted counts: A < 0 and ratio < 1 - epsLow; A > 0 and ratio > 1 + epsHigh; dual-clip
    /// active (A < 0 and ratio > c). clippedLow + clippedHigh is verl's pg_clipfrac numerator,
    /// dualClipped its pg_clipfrac_lower numerator.
    public var clippedLow: Double = 0
    public var clippedHigh: Double = 0
    public var dualClipped: Double = 0
    /// Mask-weighted sums of KL(old || new) estimates, d = logp - old: k1 = -d (verl's ppo_kl),
    /// k3 = exp(d) - 1 - d (Schulman's low-variance estimator, >= 0).
    public var klK1Sum: Double = 0
    public var klK3Sum: Double = 0
    /// Largest ratio exp(logp - old) over masked rows (0 if none).
    public var ratioMax: Double = 0

    public init() {}

    public mutating func add(_ o: PolicyLossStats) {
        pgLoss += o.pgLoss
        maskedTokens += o.maskedTokens
        sequences += o.sequences
        clippedLow += o.clippedLow
        clippedHigh += o.clippedHigh
        dualClipped += o.dualClipped
        klK1Sum += o.klK1Sum
        klK3Sum += o.klK3Sum
        ratioMax = max(ratioMax, o.ratioMax)
    }

    private func perToken(_ x: Double) -> Double { maskedTokens > 0 ? x / maskedTokens : 0 }
    /// Fractions of masked tokens (0 when there are none).
    public var clipFracLow: Double { perToken(clippedLow) }
    public var clipFracHigh: Double { perToken(clippedHigh) }
    public var clipFrac: Double { perToken(clippedLow + clippedHigh) }
    public var dualClipFrac: Double { perToken(dualClipped) }
    /// Mean k3 estimate of KL(old || new) over masked tokens.
    public var approxKL: Double { perToken(klK3Sum) }
    /// verl's ppo_kl: mean of old - logp over masked tokens.
    public var ppoKL: Double { perToken(klK1Sum) }
}

/// The divisor that makes micro-batch losses add up to the mini-batch loss. Compute it ONCE over the
/// whole mini-batch (all its micro-batches) and pass the same value to every `policyLoss` call:
/// - tokenMean: sum of the mask over the mini-batch;
/// - seqMeanTokenMean, seqMeanTokenSum: number of sequences with a non-zero mask in the mini-batch
///   (verl averages over all rows; we skip fully masked, i.e. filtered, sequences so that filtering does
///   not shrink the update of the survivors);
/// - drGRPO: config.drGRPONormalizer.
/// Returns 1 when that count is 0 (then every masked sum is 0, so the loss is exactly 0).
/// mask: [N] rows of the whole mini-batch; sequences: their row ranges.
public func lossNormalizer(_ config: PolicyLossConfig, mask: [Float], sequences: [Range<Int>]) throws -> Float {
    try config.validate()
    let value: Double
    switch config.aggregation {
    case .tokenMean:
        value = mask.reduce(0.0) { $0 + Double($1) }
    case .seqMeanTokenMean, .seqMeanTokenSum:
        var live = 0
        for s in sequences {
            try require(s.lowerBound >= 0 && s.upperBound <= mask.count,
                        "lossNormalizer: sequence rows \(s) outside 0..<\(mask.count)")
            if mask[s].contains(where: { $0 != 0 }) { live += 1 }
        }
        value = Double(live)
    case .drGRPO:
        value = Double(config.drGRPONormalizer)
    }
    try require(value.isFinite, "lossNormalizer: non-finite mask sum \(value)")
    return value > 0 ? Float(value) : 1
}

/// `lossNormalizer` over all micro-batches of one mini-batch.
public func lossNormalizer(_ config: PolicyLossConfig, batches: [PolicyLossBatch]) throws -> Float {
    var mask: [Float] = [], sequences: [Range<Int>] = []
    for b in batches {
        let offset = mask.count
        sequences += b.sequences.map { ($0.lowerBound + offset)..<($0.upperBound + offset) }
        mask += b.mask
    }
    return try lossNormalizer(config, mask: mask, sequences: sequences)
}

/// The PPO clipped surrogate as one fused op with a hand-written backward.
/// logProbs: [N] (log-prob of each row's token under the current policy, with grad) -> scalar [].
///
/// Per row, following verl's compute_policy_loss (verl/trainer/ppo/core_algos.py, "vanilla"):
///   d = clamp(logp - old, -20, 20); ratio = exp(d)
///   L1 = -A * ratio; L2 = -A * clamp(ratio, 1 - epsLow, 1 + epsHigh); Lc = max(L1, L2)
///   L3 = -A * c;  loss = A < 0 ? min(L3, Lc) : Lc          (dual-clip, c = clip_ratio_c)
/// which is, case by case (what this kernel computes):
///   A > 0 and ratio > 1 + epsHigh            -> -A * (1 + epsHigh)   (clipped high, gradient 0)
///   A < 0 and ratio < 1 - epsLow             -> -A * (1 - epsLow)    (clipped low, gradient 0)
///   A < 0 and ratio > c (dual-clip enabled)  -> -A * c               (dual-clipped, gradient 0)
///   otherwise                                -> -A * ratio           (d loss / d logp = -A * ratio)
/// Ties (ratio exactly on a bound) take the unclipped branch; torch gives the same gradient at the
/// 1 +- eps bounds and half of it at ratio == c (its min/max split ties), a measure-zero difference.
/// The gradient of d through the +-20 clamp is 0 outside the clamp, as torch's.
///
/// Aggregation (verl agg_loss), with `normalizer` from `lossNormalizer` over the whole mini-batch:
///   tokenMean, seqMeanTokenSum, drGRPO:  sum_i m_i * loss_i / normalizer
///   seqMeanTokenMean:  sum_s (sum_{i in s} m_i * loss_i / sum_{i in s} m_i) / normalizer
/// Every term depends only on its own row (and its sequence), so splitting a mini-batch into
/// micro-batches with the same normalizer and summing their losses and gradients reproduces the
/// mini-batch exactly (gradient accumulation). A sequence must not be split across micro-batches.
///
/// Rows with mask 0 are skipped entirely: their gradient is exactly 0 (their log-prob may even be
/// non-finite), and so is the logits gradient of those rows after `gatherLogProbs`.
///
/// With importance weights (`batch.isWeights`, a rollout correction), row i's loss and gradient are scaled by
/// its weight w_i: loss_i = w_i * (the case above), a constant factor (no gradient flows through w).
public func policyLoss(_ logProbs: Tensor, batch: PolicyLossBatch, config: PolicyLossConfig,
                       normalizer: Float) throws -> (loss: Tensor, stats: PolicyLossStats) {
    let r = try policyLossWithTerms(logProbs, batch: batch, config: config, normalizer: normalizer)
    return (r.loss, r.stats)
}

/// How a row's loss was clipped (see `policyLoss`).
public enum ClipState: UInt8, Sendable {
    case none, low, high, dual
}

/// Per-row results of `policyLoss`, for the gradient attribution: d loss / d logp of each row (0 where
/// clipped or masked), what it would have been without the clip, and the clip state.
public struct PolicyLossTerms: Sendable {
    public var coefficients: [Float]
    public var unclippedCoefficients: [Float]
    public var clip: [ClipState]
}

/// `policyLoss`, also returning its per-row terms.
public func policyLossWithTerms(_ logProbs: Tensor, batch: PolicyLossBatch, config: PolicyLossConfig,
                                normalizer: Float) throws -> (loss: Tensor, stats: PolicyLossStats, terms: PolicyLossTerms) {
    try require(logProbs.rank == 1, "policyLoss needs log-probs [N], got shape \(logProbs.shape)")
    let n = logProbs.count
    try batch.validate(rows: n)
    try config.validate()
    try require(normalizer.isFinite && normalizer > 0,
                "policyLoss: normalizer must be finite and > 0, got \(normalizer); use lossNormalizer(...)")

    let lo = 1 - config.epsLow, hi = 1 + config.epsHigh
    let norm = Double(normalizer)
    var terms = PolicyLossTerms(coefficients: [Float](repeating: 0, count: n),
                                unclippedCoefficients: [Float](repeating: 0, count: n),
                                clip: [ClipState](repeating: .none, count: n))
    var stats = PolicyLossStats()
    var total = 0.0
    let lp = logProbs.data

    for s in batch.sequences {
        var seqMask = 0.0
        for i in s { seqMask += Double(batch.mask[i]) }
        if seqMask == 0 { continue }
        stats.sequences += 1
        // Weight of a row's loss in the scalar: m_i * w_i / denom.
        let denom = config.aggregation == .seqMeanTokenMean ? seqMask * norm : norm
        for i in s {
            let m = batch.mask[i]
            if m == 0 { continue }
            let a = batch.advantages[i]
            let d = lp[i] - batch.oldLogProbs[i]
            let ratio = expf(min(max(d, -20), 20))
            let dRatio: Float = (d >= -20 && d <= 20) ? ratio : 0   // d ratio / d logp
            let loss: Float, dLoss: Float
            let w = Double(m)
            if a > 0 && ratio > hi {
                loss = -a * hi; dLoss = 0; stats.clippedHigh += w; terms.clip[i] = .high
            } else if a < 0 && ratio < lo {
                loss = -a * lo; dLoss = 0; stats.clippedLow += w; terms.clip[i] = .low
            } else if a < 0, let c = config.dualClip, ratio > c {
                loss = -a * c; dLoss = 0; stats.dualClipped += w; terms.clip[i] = .dual
            } else {
                loss = -a * ratio; dLoss = -a * dRatio
            }
            let ww = w * Double(batch.isWeights.isEmpty ? 1 : batch.isWeights[i])   // (w * 1 is exactly w)
            total += ww * Double(loss) / denom
            terms.coefficients[i] = Float(ww * Double(dLoss) / denom)
            terms.unclippedCoefficients[i] = Float(ww * Double(-a * dRatio) / denom)
            stats.maskedTokens += w
            let dd = Double(d)
            stats.klK1Sum += w * -dd
            stats.klK3Sum += w * (Double(ratio) - 1 - Double(min(max(d, -20), 20)))
            stats.ratioMax = max(stats.ratioMax, Double(ratio))
        }
    }
    stats.pgLoss = total

    let out = Tensor(zeros: [])
    out.data[0] = Float(total)
    let coef = terms.coefficients
    let result = Tensor.record(out, inputs: [logProbs]) { out in
        let g = out.grad![0], dx = logProbs.ensureGrad()
        for i in 0..<n where coef[i] != 0 { dx[i] += g * coef[i] }
    }
    return (result, stats, terms)
}
