import Foundation
import GRPO

/// What one run (arm x seed) shows: the phases the sweep looks for.
struct RunPhase {
    var spikes: Int, updateSpikes: Int, nonFinite: Int, voidFirst: Double, voidFinal: Double, finalAccuracy: Double
    /// The trend criterion (`GrowthTrend`) and its numbers.
    var grows: Bool, trendRatio: Double, trendRho: Double
    /// Share of steps without a gradient (every trajectory filtered, or no reward signal).
    var zeroGradient: Double

    init(_ s: RunStats) {
        spikes = Int(s.values["spikes"] ?? 0)
        updateSpikes = Int(s.values["update_spikes"] ?? 0)
        nonFinite = Int(s.values["nonfinite_steps"] ?? 0)
        voidFinal = s.values["void_turn_final"] ?? .nan
        voidFirst = s.values["void_turn_first"] ?? .nan
        finalAccuracy = s.values["accuracy_final"] ?? .nan
        grows = (s.values["grows"] ?? 0) > 0
        trendRatio = s.values["trend_ratio"] ?? .nan
        trendRho = s.values["trend_rho"] ?? .nan
        zeroGradient = s.values["zero_grad_steps"] ?? 0
    }

    /// Void-turn collapse: at least half of the trajectories of the last steps have a void turn, and fewer did
    /// in the first steps (a base that writes void turns from the start has not collapsed).
    var collapsed: Bool { voidFinal >= 0.5 && !(voidFirst >= 0.5) }
    var unstable: Bool { spikes > 0 || updateSpikes > 0 || nonFinite > 0 || grows }
    var anyPhase: Bool { unstable || collapsed }

    var cell: String {
        "\(spikes) sp, \(updateSpikes) usp, \(nonFinite) nf, "
            + (trendRatio.isFinite ? String(format: "x%.2f rho %.2f%@, ", trendRatio, trendRho, grows ? " **grows**" : "") : "no trend, ")
            + (zeroGradient > 0 ? String(format: "%.0f%% steps without gradient, ", 100 * zeroGradient) : "")
            + (collapsed ? "**collapse**" : voidFirst >= 0.5 && voidFinal >= 0.5 ? String(format: "void from the start (%.0f%%)", 100 * voidFinal) : "no collapse")
            + (finalAccuracy.isFinite ? String(format: ", %.0f%%", 100 * finalAccuracy) : "")
    }
}

/// The sweep's REPORT.md (phase table, fixes, attribution, verdict) and phases.csv, from the numbers.
public struct SweepReport {
    public let results: [ConditionResult]
    public let sweep: InstabilitySweep
    public let outDir: URL
    /// Wall-clock seconds of the command, and how it was invoked, for the record.
    public var totalSeconds: Double?
    public var command: String?

    public init(results: [ConditionResult], sweep: InstabilitySweep, outDir: URL) {
        self.results = results; self.sweep = sweep; self.outDir = outDir
    }

    func find(_ r: ConditionResult, filter: Bool, mask: Bool, correction: ImportanceCorrection = .none) -> ArmSummary? {
        r.summaries.first {
            $0.arm.maxToolCalls > 1 && $0.arm.filterVoidTurns == filter && $0.arm.maskToolTokens == mask
                && $0.arm.importanceCorrection == correction
        }
    }

    /// Each fix as (name, the arm without it, the arm with it).
    func fixes(_ r: ConditionResult) -> [(String, ArmSummary, ArmSummary)] {
        let naive = find(r, filter: false, mask: true)
        let pairs: [(String, ArmSummary?, ArmSummary?)] = [
            ("void-turn filter", naive, find(r, filter: true, mask: true)),
            ("tool-output mask", find(r, filter: false, mask: false), naive),
            ("TIS", naive, find(r, filter: false, mask: true, correction: .tis)),
            ("MIS", naive, find(r, filter: false, mask: true, correction: .mis)),
            ("void filter + TIS", naive, find(r, filter: true, mask: true, correction: .tis)),
        ]
        return pairs.compactMap { name, a, b in a.flatMap { a in b.map { (name, a, $0) } } }
    }

    func phases(_ a: ArmSummary) -> [UInt64: RunPhase] {
        Dictionary(uniqueKeysWithValues: zip(a.runs.map(\.seed), a.stats.map(RunPhase.init)))
    }

    /// "removes it on 2 of 2 seeds" / "nothing to remove ..." for a fix on the seeds both arms ran.
    func fixVerdict(without a: ArmSummary, with b: ArmSummary) -> (text: String, removed: Int, affected: Int) {
        let pa = phases(a), pb = phases(b)
        let seeds = pa.keys.filter { pb[$0] != nil }.sorted()
        let affected = seeds.filter { pa[$0]!.anyPhase }
        let removed = affected.filter { !pb[$0]!.anyPhase }
        let introduced = seeds.filter { !pa[$0]!.anyPhase && pb[$0]!.anyPhase }
        var text = affected.isEmpty
            ? "nothing to remove (no spike, growth, non-finite step or collapse without it on \(seeds.count) seed(s))"
            : "removes it on \(removed.count) of \(affected.count) affected seed(s) (\(affected.map(String.init).joined(separator: ", ")))"
        if !introduced.isEmpty { text += "; shows one where the arm without it had none: seed(s) \(introduced.map(String.init).joined(separator: ", "))" }
        return (text, removed.count, affected.count)
    }

    func pct(_ x: Double) -> String { x.isFinite ? String(format: "%.1f%%", 100 * x) : "n/a" }
    func num(_ x: Double, _ f: String = "%.3g") -> String { x.isFinite ? String(format: f, x) : "n/a" }

    var whatRan: String {
        var t = "| condition | what it changes | overrides | base | arms | minutes |\n|---|---|---|---|---|---:|\n"
        for r in results {
            let minutes = r.summaries.flatMap(\.stats).reduce(0.0) { $0 + ($1.values["minutes"] ?? 0) }
            t += "| `\(r.condition.name)` | \(r.condition.summary) | " + (r.condition.overrides.isEmpty ? "-" : r.condition.overrides.map { "`\($0)`" }.joined(separator: " "))
                + " | " + (r.condition.baseStep.map { "step \($0)" } ?? "final") + " | \(r.summaries.count) | " + num(minutes, "%.1f") + " |\n"
        }
        return t
    }

    var phaseTable: String {
        let seeds = sweep.seeds
        var t = "| condition | arm | " + seeds.map { "seed \($0)" }.joined(separator: " | ") + " | max grad norm | median grad norm |\n"
        t += "|---|---|" + seeds.map { _ in "---" }.joined(separator: "|") + "|---:|---:|\n"
        for r in results {
            for a in r.summaries {
                let p = phases(a)
                t += "| `\(r.condition.name)` | `\(a.arm.name)` | " + seeds.map { p[$0]?.cell ?? "-" }.joined(separator: " | ")
                    + " | \(num(a["grad_norm_max"].max)) | \(num(a["grad_norm_median"].mean)) |\n"
            }
        }
        return t
    }

    var fixTable: String {
        var t = "| condition | fix | without it | with it | verdict |\n|---|---|---|---|---|\n"
        for r in results {
            for (name, a, b) in fixes(r) {
                t += "| `\(r.condition.name)` | \(name) | `\(a.arm.name)` | `\(b.arm.name)` | \(fixVerdict(without: a, with: b).text) |\n"
            }
        }
        return t
    }

    var attributionTable: String {
        var t = "| condition | base entropy / policy token | low-p tokens (p<1e-3) | grad share p<1e-3 (mean, max step) | grad share after tool | grad share void | clipped share | rollout-trainer prob diff | entropy, first 5 steps |\n"
        t += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in results {
            guard let a = find(r, filter: false, mask: true) ?? r.summaries.first else { continue }
            t += "| `\(r.condition.name)` (`\(a.arm.name)`) | " + (r.probe.map { num($0.entropy, "%.4f") } ?? "n/a")
                + " | \(num(100 * a["low_prob"].mean, "%.3f"))% | \(pct(a["lowprob_grad_share"].mean)), \(pct(a["lowprob_grad_share_max"].max))"
                + " | \(pct(a["after_tool_grad_share"].mean)) | \(pct(a["void_grad_share"].mean)) | \(pct(a["clipped_grad_share"].mean))"
                + " | \(num(a["probs_diff_mean"].mean, "%.2e")) | \(num(a["entropy_first"].mean, "%.4f")) |\n"
        }
        return t
    }

    /// The issue's question: is there a regime where the naive arm explodes and void-turn filtering prevents
    /// it on at least 2 seeds?
    var verdict: String {
        var found: [String] = []
        var unstable: [String] = [], collapses: [String] = []
        for r in results {
            guard let naive = find(r, filter: false, mask: true) else { continue }
            let p = phases(naive)
            let bad = p.filter { $0.value.unstable }.map(\.key).sorted()
            if !bad.isEmpty { unstable.append("`\(r.condition.name)` (seeds \(bad.map(String.init).joined(separator: ", ")))") }
            let collapsed = p.filter { $0.value.collapsed }.map(\.key).sorted()
            if !collapsed.isEmpty, let filtered = find(r, filter: true, mask: true) {
                let pf = phases(filtered)
                let kept = collapsed.filter { pf[$0].map { !$0.collapsed } ?? false }
                collapses.append("`\(r.condition.name)` collapsed on seed(s) \(collapsed.map(String.init).joined(separator: ", ")) "
                                 + "and void-turn filtering prevented it on \(kept.count) of them")
            }
            if let filtered = find(r, filter: true, mask: true), bad.count >= 2 {
                let pf = phases(filtered)
                let prevented = bad.filter { pf[$0].map { !$0.unstable } ?? false }
                if prevented.count >= 2 { found.append("`\(r.condition.name)`: explodes or grows on seeds \(bad), filtering prevents it on \(prevented)") }
            }
        }
        // Runs of the naive arm where most steps had no gradient at all: little training to become unstable.
        let naiveRuns = results.compactMap { find($0, filter: false, mask: true) }.flatMap(\.stats)
        let idle = naiveRuns.filter { ($0.values["zero_grad_steps"] ?? 0) >= 0.5 }
        let starved = idle.isEmpty ? "" : " In \(idle.count) of \(naiveRuns.count) runs of the naive arm at least half of the steps had no "
            + "gradient (no group with a reward signal): "
            + pct(naiveRuns.map { $0.values["zero_grad_steps"] ?? 0 }.reduce(0, +) / Double(naiveRuns.count)) + " of its steps on average."
        if !found.isEmpty {
            return "**A regime was found** where the naive multi-turn arm's grad norm explodes or grows and void-turn filtering prevents it on "
                + "at least 2 seeds: " + found.joined(separator: "; ") + ". Reproduce one with `tir experiment instability --preset NAME`."
        }
        return "**No condition of this sweep produced the explosion SimpleTIR reports** with the fix preventing it on at least 2 seeds. "
            + (unstable.isEmpty ? "The naive multi-turn arm had no spike (>10x the running median, per step or per update), no growth "
               + "(the trend criterion) and no non-finite step in any condition."
               : "The naive arm had spikes, growth or non-finite steps in: " + unstable.joined(separator: ", ") + ", but void-turn filtering did not prevent them on 2 seeds.")
            + (collapses.isEmpty ? "" : " Without any gradient spike, the naive arm collapsed to void turns (at least half of the "
               + "last steps' trajectories): " + collapses.joined(separator: "; ") + ".")
            + starved
            + " Where the gradient sits instead is in the attribution table: the share carried by tokens sampled with p < 1e-3 "
            + "and by the first tokens after a tool observation."
    }

    public func markdown() -> String {
        let c = sweep.shared
        let md = """
        # Instability sweep: where multi-turn TIR gradients explode, and what prevents it

        Generated by `tir experiment instability` on \(ISO8601DateFormatter().string(from: Date()))\(command.map { " (`\($0)`)" } ?? "").
        Each condition sets levers a real training setup can have (nothing is injected: no artificial spikes,
        no scaled or noised gradients); each runs its arms from the same base with the same seeds
        (\(sweep.seeds.map(String.init).joined(separator: ", "))) for \(c.steps) GRPO steps of \(c.promptsPerStep) prompts x \(c.groupSize) samples.
        Every condition has its own REPORT.md with plots (grad norm, gradient attribution, accuracy) in `conditions/<name>/`.

        ## What ran

        \(whatRan)
        \(totalSeconds.map { String(format: "Wall-clock time of the command: %.1f minutes.\n", $0 / 60) } ?? "")
        ## Verdict

        \(verdict)

        ## Phase table

        Per seed: grad-norm spikes (sp: steps whose grad norm, the mean over the step's updates, is above \(Int(RunStats.spikeFactor))x the median of the previous \(RunStats.spikeWindow);
        usp: the same for the step's largest single update), non-finite steps (nf), the trend (x: median grad norm of the last
        \(GrowthTrend.window) steps over the first \(GrowthTrend.window), rho: Spearman's rank correlation with the step; **grows** when
        x >= \(Int(GrowthTrend.factor)) and rho > \(GrowthTrend.minRho), fixed before the real-model runs), void-turn collapse (at least half of the
        trajectories of the last \(RunStats.finalWindow) steps have a void turn, fewer in the first \(RunStats.finalWindow); "void from the start" when the base already had them), final training accuracy (last \(RunStats.finalWindow) steps).

        \(phaseTable)
        ## Fixes

        A fix "removes" a phase on a seed when the arm without it shows a spike, growth, a non-finite step or a collapse on that seed and the arm with it shows none.

        \(fixTable)
        ## Where the gradient sits

        For the naive multi-turn arm of each condition, mean over seeds. A loss token's share is its
        (1 - 2p + sum pi^2) x (d loss / d logp)^2, the squared norm of its logit gradient (0 when clipped), over the
        step's total; "clipped share" is what clipping removed of the unclipped total. Base entropy: mean entropy per
        policy token of the base on one rollout batch of its own samples.

        \(attributionTable)
        ## Preconditions of each condition's base

        One rollout batch of the condition's first step (seed 1), sampled as the condition samples, read by the fp32 trainer.

        \(probeMarkdown(results.compactMap { r in r.probe.map { ("`\(r.condition.name)`", $0) } }))
        Files: `phases.csv` (one row per condition, arm and seed), `conditions/<name>/REPORT.md`, `conditions/<name>/arms/<arm>/seed-<k>/metrics.jsonl`.

        """
        return md
    }

    public func phasesCSV() -> String {
        let keys = ["spikes", "nonfinite_steps", "trend_ratio", "trend_rho", "grows", "zero_grad_steps", "void_turn_final", "accuracy_final",
                    "grad_norm_max", "lowprob_grad_share", "after_tool_grad_share"]
        var lines = [(["condition", "arm", "seed"] + keys).joined(separator: ",")]
        for r in results {
            for a in r.summaries {
                for (run, s) in zip(a.runs, a.stats) {
                    lines.append(([r.condition.name, a.arm.name, String(run.seed)] + keys.map { s.values[$0].map { $0.isFinite ? String(format: "%.6g", $0) : "" } ?? "" }).joined(separator: ","))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes REPORT.md and phases.csv into the sweep's directory; returns REPORT.md.
    @discardableResult
    public func write() throws -> URL {
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        try Data(phasesCSV().utf8).write(to: outDir.appendingPathComponent("phases.csv"), options: .atomic)
        let url = outDir.appendingPathComponent("REPORT.md")
        try Data(markdown().utf8).write(to: url, options: .atomic)
        return url
    }
}
