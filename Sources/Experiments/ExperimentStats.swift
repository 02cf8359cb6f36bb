import Foundation

/// Statistics of the instability experiment: per run (arm x seed) from its per-step metrics, then per arm
/// as mean and spread over seeds.

/// Linear-interpolation percentile (numpy's default), p in [0,1]. NaN for an empty list.
public func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    let pos = p * Double(s.count - 1)
    let lo = Int(pos.rounded(.down)), hi = min(s.count - 1, lo + 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
}

public func median(of xs: [Double]) -> Double { percentile(xs, 0.5) }

/// Steps (0-based indices into `norms`) whose value exceeds `factor` x the running median: the median of
/// the previous `window` finite, positive values, once at least `minHistory` of them exist. A non-finite
/// value (an update skipped for a NaN/inf gradient) is always a spike. Zero norms (every trajectory
/// filtered, or no advantage signal) are neither spikes nor history.
public func spikeSteps(_ norms: [Double], factor: Double = 10, window: Int = 20, minHistory: Int = 3) -> [Int] {
    var history: [Double] = []
    var spikes: [Int] = []
    for (i, g) in norms.enumerated() {
        if !g.isFinite { spikes.append(i); continue }
        guard g > 0 else { continue }
        if history.count >= minHistory && g > factor * median(of: Array(history.suffix(window))) { spikes.append(i) }
        history.append(g)
    }
    return spikes
}

/// Spearman's rank correlation of `xs` and `ys` (ties get their mean rank); NaN with fewer than 2 pairs or
/// a constant series.
public func spearman(_ xs: [Double], _ ys: [Double]) -> Double {
    guard xs.count == ys.count, xs.count >= 2 else { return .nan }
    func ranks(_ v: [Double]) -> [Double] {
        let order = v.indices.sorted { v[$0] < v[$1] }
        var r = [Double](repeating: 0, count: v.count), i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && v[order[j + 1]] == v[order[i]] { j += 1 }
            for k in i...j { r[order[k]] = Double(i + j) / 2 + 1 }
            i = j + 1
        }
        return r
    }
    let a = ranks(xs), b = ranks(ys), n = Double(xs.count)
    let ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
    var sab = 0.0, saa = 0.0, sbb = 0.0
    for k in a.indices { sab += (a[k] - ma) * (b[k] - mb); saa += (a[k] - ma) * (a[k] - ma); sbb += (b[k] - mb) * (b[k] - mb) }
    return saa > 0 && sbb > 0 ? sab / (saa * sbb).squareRoot() : .nan
}

/// The trend criterion for a slow rise (SimpleTIR's naive arm: about 1 at the start, 2-5 by steps 200-400),
/// fixed before the real-model runs: the median pre-clip grad norm of the last `window` steps is at least
/// `factor` x that of the first `window`, and Spearman's rho of grad norm against step is above `minRho`. Steps
/// without a gradient (norm 0: every trajectory filtered or no reward signal) and non-finite ones (counted
/// as spikes) are left out; with fewer than 2 x `window` steps left, the window is half of them (at least 2).
public struct GrowthTrend: Sendable, Equatable {
    public var ratio: Double, rho: Double
    public var grows: Bool

    public static let window = 10, factor = 3.0, minRho = 0.5

    public init(_ norms: [Double], window: Int = Self.window, factor: Double = Self.factor, minRho: Double = Self.minRho) {
        let kept = norms.enumerated().filter { $0.element.isFinite && $0.element > 0 }
        let w = min(window, kept.count / 2)
        guard w >= 2 else { ratio = .nan; rho = .nan; grows = false; return }
        let first = median(of: kept.prefix(w).map(\.element)), last = median(of: kept.suffix(w).map(\.element))
        ratio = last / first
        rho = spearman(kept.map { Double($0.offset) }, kept.map(\.element))
        grows = ratio >= factor && rho > minRho
    }
}

/// One column of the summary: how a run's per-step metrics reduce to one number.
public struct StatColumn: Sendable {
    public let key: String
    public let title: String
    public let percent: Bool
    public let digits: Int
    public let explain: String
}

/// Per-run numbers, keyed by `StatColumn.key`.
public struct RunStats: Sendable {
    public var values: [String: Double]
    public var spikeSteps: [Int]

    public static let spikeFactor = 10.0
    public static let spikeWindow = 20
    public static let finalWindow = 5

    public static let columns: [StatColumn] = [
        StatColumn(key: "grad_norm_max", title: "max grad norm", percent: false, digits: 3,
                   explain: "largest pre-clip gradient norm of any update (metric tir/grad_norm_max)"),
        StatColumn(key: "grad_norm_p95", title: "p95 grad norm", percent: false, digits: 3,
                   explain: "95th percentile over steps of the step's pre-clip gradient norm (mean over its updates)"),
        StatColumn(key: "grad_norm_median", title: "median grad norm", percent: false, digits: 3,
                   explain: "median over steps of the same"),
        StatColumn(key: "spikes", title: "spikes >10x median", percent: false, digits: 1,
                   explain: "steps whose grad norm exceeds 10x the median of the previous \(spikeWindow) steps (at least 3; non-finite counts)"),
        StatColumn(key: "trend_ratio", title: "grad norm last/first", percent: false, digits: 2,
                   explain: "median grad norm of the last \(GrowthTrend.window) steps over that of the first \(GrowthTrend.window) (steps with a gradient)"),
        StatColumn(key: "trend_rho", title: "Spearman rho", percent: false, digits: 2,
                   explain: "rank correlation of grad norm with step"),
        StatColumn(key: "grows", title: "grows", percent: false, digits: 1,
                   explain: "1 when the trend criterion holds: ratio >= \(Int(GrowthTrend.factor)) and rho > \(GrowthTrend.minRho) (mean over seeds: the share of seeds)"),
        StatColumn(key: "zero_grad_steps", title: "steps without gradient", percent: true, digits: 0,
                   explain: "steps whose grad norm is 0: every trajectory filtered, or no group with a reward signal"),
        StatColumn(key: "accuracy_first", title: "first acc", percent: true, digits: 1,
                   explain: "training-batch accuracy, mean of the first \(finalWindow) steps"),
        StatColumn(key: "accuracy_final", title: "final acc", percent: true, digits: 1,
                   explain: "training-batch accuracy, mean of the last \(finalWindow) steps"),
        StatColumn(key: "low_prob", title: "low-prob tokens", percent: true, digits: 2,
                   explain: "policy tokens sampled with probability < 1e-3, mean over steps"),
        StatColumn(key: "low_prob_after_tool", title: "low-prob after tool", percent: true, digits: 2,
                   explain: "the same among the first 4 policy tokens after a tool observation"),
        StatColumn(key: "low_prob_elsewhere", title: "low-prob elsewhere", percent: true, digits: 2,
                   explain: "the same among all other policy tokens"),
        StatColumn(key: "void_turn_ratio", title: "void-turn traj.", percent: true, digits: 1,
                   explain: "trajectories with a void turn, mean over steps"),
        StatColumn(key: "void_turn_first", title: "void-turn traj. (first 5)", percent: true, digits: 1,
                   explain: "trajectories with a void turn, mean of the first \(finalWindow) steps (a base that starts there has not collapsed)"),
        StatColumn(key: "void_turn_final", title: "void-turn traj. (last 5)", percent: true, digits: 1,
                   explain: "trajectories with a void turn, mean of the last \(finalWindow) steps (a collapse shows here)"),
        StatColumn(key: "exec_error_rate", title: "exec errors", percent: true, digits: 1,
                   explain: "executed code blocks that failed (the out-of-distribution feedback), mean over steps"),
        StatColumn(key: "tool_calls", title: "tool calls/traj.", percent: false, digits: 2,
                   explain: "executed code blocks per trajectory, mean over steps"),
        StatColumn(key: "filtered_frac", title: "filtered traj.", percent: true, digits: 1,
                   explain: "trajectories that lost their gradient to the void-turn filter, mean over steps"),
        StatColumn(key: "zero_signal_groups", title: "no-signal groups", percent: true, digits: 1,
                   explain: "groups whose samples all got the same reward (zero advantage, no gradient), mean over steps"),
        StatColumn(key: "skipped_updates", title: "skipped updates", percent: false, digits: 0,
                   explain: "updates skipped for a non-finite gradient, total"),
        StatColumn(key: "minutes", title: "minutes", percent: false, digits: 1,
                   explain: "wall-clock minutes of the run (sum of step times)"),
        StatColumn(key: "update_spikes", title: "update spikes", percent: false, digits: 1,
                   explain: "steps whose largest single-update grad norm (tir/grad_norm_max) exceeds 10x the running median of the same"),
        StatColumn(key: "nonfinite_steps", title: "non-finite steps", percent: false, digits: 0,
                   explain: "steps with a non-finite gradient norm or a skipped update"),
        StatColumn(key: "lowprob_grad_share", title: "grad share p<1e-3", percent: true, digits: 1,
                   explain: "share of the logit-gradient mass (tir/lowprob_grad_share) on tokens sampled with p < 1e-3, mean over steps"),
        StatColumn(key: "lowprob_grad_share_max", title: "max grad share p<1e-3", percent: true, digits: 1,
                   explain: "the same, largest step"),
        StatColumn(key: "after_tool_grad_share", title: "grad share after tool", percent: true, digits: 1,
                   explain: "share of the logit-gradient mass on the first 4 policy tokens after a tool observation, mean over steps"),
        StatColumn(key: "void_grad_share", title: "grad share void", percent: true, digits: 1,
                   explain: "share of the logit-gradient mass on tokens of void turns, mean over steps"),
        StatColumn(key: "clipped_grad_share", title: "clipped grad share", percent: true, digits: 1,
                   explain: "share of the unclipped logit-gradient mass that clipping removed, mean over steps"),
        StatColumn(key: "entropy_first", title: "entropy (first 5)", percent: false, digits: 3,
                   explain: "mean entropy (nats) per loss token in the updates of the first \(finalWindow) steps (steps that updated)"),
        StatColumn(key: "probs_diff_mean", title: "rollout-trainer prob diff", percent: false, digits: 4,
                   explain: "mean |p_rollout - p_trainer| per loss token (training/rollout_probs_diff_mean; only with recomputed old log-probs)"),
    ]

    /// Reduces one run's metrics lines (one per step, in order); `trajectoriesPerStep` = B x G.
    public init(metrics: [[String: Double]], trajectoriesPerStep: Int) {
        func series(_ k: String) -> [Double] { metrics.compactMap { $0[k] }.filter(\.isFinite) }
        func mean(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count) }
        // A step whose grad_norm was written as null (non-finite) reads back without the key.
        let norms = metrics.map { $0["actor/grad_norm"] ?? .infinity }
        let finite = norms.filter(\.isFinite)
        let acc = metrics.map { $0["tir/accuracy"] ?? .nan }
        spikeSteps = Experiments.spikeSteps(norms, factor: Self.spikeFactor, window: Self.spikeWindow)
        let trend = GrowthTrend(norms)
        values = [
            "trend_ratio": trend.ratio,
            "trend_rho": trend.rho,
            "grows": trend.grows ? 1 : 0,
            "zero_grad_steps": Double(norms.filter { $0 == 0 }.count) / Double(max(1, norms.count)),
            "grad_norm_max": metrics.map { $0["tir/grad_norm_max"] ?? .infinity }.max() ?? .nan,
            "grad_norm_p95": percentile(finite, 0.95),
            "grad_norm_median": median(of: finite),
            "spikes": Double(spikeSteps.count),
            "accuracy_first": mean(Array(acc.prefix(Self.finalWindow)).filter(\.isFinite)),
            "accuracy_final": mean(Array(acc.suffix(Self.finalWindow)).filter(\.isFinite)),
            "low_prob": mean(series("tir/low_prob/1e-3")),
            "low_prob_after_tool": mean(series("tir/low_prob/after_tool")),
            "low_prob_elsewhere": mean(series("tir/low_prob/elsewhere")),
            "void_turn_ratio": mean(series("env/void_turn_ratio")),
            "void_turn_final": mean(metrics.suffix(Self.finalWindow).compactMap { $0["env/void_turn_ratio"] }.filter(\.isFinite)),
            "void_turn_first": mean(metrics.prefix(Self.finalWindow).compactMap { $0["env/void_turn_ratio"] }.filter(\.isFinite)),
            "exec_error_rate": mean(series("tir/exec_error_rate")),
            "tool_calls": mean(series("tool_call_counts/mean")),
            "filtered_frac": mean(series("tir/filtered_void").map { $0 / Double(max(1, trajectoriesPerStep)) }),
            "zero_signal_groups": mean(series("tir/zero_std_groups")),
            "skipped_updates": series("tir/skipped_updates").reduce(0, +),
            "minutes": series("timing_s/step").reduce(0, +) / 60,
            "nonfinite_steps": Double(metrics.filter { !($0["actor/grad_norm"]?.isFinite ?? false) || ($0["tir/skipped_updates"] ?? 0) > 0 }.count),
            "update_spikes": Double(Experiments.spikeSteps(metrics.map { $0["tir/grad_norm_max"] ?? .infinity },
                                                           factor: Self.spikeFactor, window: Self.spikeWindow).count),
            "lowprob_grad_share": mean(series("tir/lowprob_grad_share")),
            "lowprob_grad_share_max": series("tir/lowprob_grad_share").max() ?? .nan,
            "after_tool_grad_share": mean(series("tir/grad_share_after_tool")),
            "void_grad_share": mean(series("tir/grad_share_void")),
            "clipped_grad_share": mean(series("tir/clipped_grad_share")),
            // Entropy over loss tokens exists only in steps that updated (a step without gradient logs 0).
            "entropy_first": mean(Array(metrics.prefix(Self.finalWindow)).filter { ($0["actor/grad_norm"] ?? 0) > 0 }
                .compactMap { $0["actor/entropy"] }.filter(\.isFinite)),
            "probs_diff_mean": mean(series("training/rollout_probs_diff_mean")),
        ]
    }
}

/// Mean and sample standard deviation (n-1) over seeds; sd is NaN with one seed.
public struct MeanSpread: Sendable {
    public var mean: Double, sd: Double, min: Double, max: Double, n: Int

    public init(_ xs: [Double]) {
        let v = xs.filter { !$0.isNaN }
        n = v.count
        let m = v.isEmpty ? Double.nan : v.reduce(0, +) / Double(v.count)
        mean = m
        sd = v.count < 2 ? .nan : (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot()
        min = v.min() ?? .nan
        max = v.max() ?? .nan
    }
}

/// One arm over all its seeds.
public struct ArmSummary: Sendable {
    public var arm: ExperimentArm
    public var runs: [ExperimentRun]
    public var stats: [RunStats]
    public var columns: [String: MeanSpread]

    public init(arm: ExperimentArm, runs: [ExperimentRun], trajectoriesPerStep: Int) {
        self.arm = arm
        self.runs = runs
        stats = runs.map { RunStats(metrics: $0.metrics, trajectoriesPerStep: trajectoriesPerStep) }
        var cols: [String: MeanSpread] = [:]
        for c in RunStats.columns { cols[c.key] = MeanSpread(stats.map { $0.values[c.key] ?? .nan }) }
        columns = cols
    }

    public subscript(_ key: String) -> MeanSpread { columns[key] ?? MeanSpread([]) }
}

/// Formats a number for the table and CSV: percent columns as percentages.
func formatStat(_ x: Double, _ c: StatColumn) -> String {
    guard x.isFinite else { return x.isNaN ? "n/a" : (x > 0 ? "inf" : "-inf") }
    return String(format: "%.\(c.digits)f", c.percent ? 100 * x : x) + (c.percent ? "%" : "")
}
