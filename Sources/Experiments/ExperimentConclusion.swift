import Foundation

/// The conclusion section of REPORT.md, generated from the numbers: every claim is a comparison of two arms
/// on the same seeds, with the verdict rule stated next to it.
struct InstabilityConclusion {
    let summaries: [ArmSummary]
    let steps: Int

    func arm(calls multi: Bool, filter: Bool, mask: Bool) -> ArmSummary? {
        summaries.first {
            ($0.arm.maxToolCalls > 1) == multi && $0.arm.filterVoidTurns == filter && $0.arm.maskToolTokens == mask
                && $0.arm.importanceCorrection == .none
        }
    }

    /// Per-seed spike counts of an arm, keyed by seed.
    func spikes(_ a: ArmSummary) -> [UInt64: Double] {
        Dictionary(uniqueKeysWithValues: zip(a.runs.map(\.seed), a.stats.map { $0.values["spikes"] ?? 0 }))
    }

    enum Verdict: String { case reproduced, mixed, notReproduced }

    /// "A (expected less stable) vs B": A has more spikes than B on every shared seed -> reproduced; more on
    /// average only -> mixed; otherwise not reproduced.
    func compare(_ a: ArmSummary, _ b: ArmSummary) -> (Verdict, String) {
        let sa = spikes(a), sb = spikes(b)
        let seeds = sa.keys.filter { sb[$0] != nil }.sorted()
        let perSeed = seeds.map { "seed \($0): \(Int(sa[$0]!)) vs \(Int(sb[$0]!))" }.joined(separator: ", ")
        let moreEvery = !seeds.isEmpty && seeds.allSatisfy { sa[$0]! > sb[$0]! }
        let ma = a["spikes"].mean, mb = b["spikes"].mean
        let verdict: Verdict = moreEvery ? .reproduced : (ma > mb ? .mixed : .notReproduced)
        let ratio = { (k: String) -> String in
            let x = a[k].mean, y = b[k].mean
            return y > 0 && x.isFinite ? String(format: "%.2fx", x / y) : "n/a"
        }
        let text = "`\(a.arm.name)` had \(fmt(ma)) spike(s) per run (mean over \(a.runs.count) seed(s)), "
            + "`\(b.arm.name)` had \(fmt(mb)) (\(perSeed)); p95 grad norm \(fmt3(a["grad_norm_p95"].mean)) vs "
            + "\(fmt3(b["grad_norm_p95"].mean)) (\(ratio("grad_norm_p95"))), max \(fmt3(a["grad_norm_max"].mean)) vs "
            + "\(fmt3(b["grad_norm_max"].mean)) (\(ratio("grad_norm_max")))."
        return (verdict, text)
    }

    func fmt(_ x: Double) -> String { x.isFinite ? (x == x.rounded() ? String(Int(x)) : String(format: "%.1f", x)) : "n/a" }
    func fmt3(_ x: Double) -> String { x.isFinite ? String(format: "%.3g", x) : (x.isNaN ? "n/a" : "inf") }
    func pct(_ x: Double) -> String { x.isFinite ? String(format: "%.2f%%", 100 * x) : "n/a" }

    var tooShort: Bool { steps < 8 }

    func verdictWords(_ v: Verdict) -> String {
        if tooShort { return "**not judged** (too few steps)" }
        switch v {
        case .reproduced: return "**reproduced at this scale** (more spikes on every seed)"
        case .mixed: return "**not clearly reproduced** (more spikes on average, but not on every seed)"
        case .notReproduced: return "**not reproduced at this scale**"
        }
    }

    var markdown: String {
        var out: [String] = []
        let totalSpikes = summaries.reduce(0.0) { $0 + $1.stats.reduce(0.0) { $0 + ($1.values["spikes"] ?? 0) } }
        let naive = arm(calls: true, filter: false, mask: true)
        let fixed = arm(calls: true, filter: true, mask: true)
        let rule = "Verdict rule: a comparison counts as reproduced when the arm the papers call unstable has more "
            + "grad-norm spikes (steps above \(Int(RunStats.spikeFactor))x the running median of the previous "
            + "\(RunStats.spikeWindow) steps) than the other arm on every seed; more on average only is \"not clearly\"."
        out.append(rule + "\n")
        if steps < 8 {
            out.append("**Too few steps (\(steps)) to judge**: a spike needs at least 3 earlier steps of history. "
                       + "This run checks the pipeline only; its numbers say nothing about stability.\n")
        }

        // 1. Is there an instability at all?
        if let naive {
            let s = naive["spikes"].mean
            out.append("- **Instability in naive multi-turn training** (`\(naive.arm.name)`: \(naive.arm.label)): "
                       + "\(fmt(s)) spike(s) per run on average, max pre-clip grad norm \(fmt3(naive["grad_norm_max"].mean)), "
                       + "p95 \(fmt3(naive["grad_norm_p95"].mean)), median \(fmt3(naive["grad_norm_median"].mean)), "
                       + "\(fmt(naive["skipped_updates"].mean)) non-finite updates: "
                       + (tooShort ? "not judged (too few steps)."
                          : s >= 1 ? "spikes **present**."
                          : (s > 0 ? "**fewer than one spike per run**" : "**no spikes**")
                            + ": the explosion SimpleTIR reports was **not reproduced at this scale**."))
            if !(naive["grad_norm_max"].mean > 0) {
                out.append("- **Every gradient of the naive arm was zero**: no group had two different rewards "
                           + "(no-signal groups \(pct(naive["zero_signal_groups"].mean))), so GRPO had nothing to learn from. "
                           + "The base policy is too weak (or too strong) for these tasks; use a better-trained base "
                           + "(`tir pretrain`) or another difficulty before reading anything into the numbers.")
            } else if naive["zero_signal_groups"].mean > 0.8 {
                out.append("- **Weak learning signal**: \(pct(naive["zero_signal_groups"].mean)) of the naive arm's groups "
                           + "had no reward variance (all samples right or all wrong), so each update rests on a few groups; "
                           + "gradient norms are then noisy for every arm alike.")
            }
        }
        // 2. Paired comparisons.
        let pairs: [(String, ArmSummary?, ArmSummary?)] = [
            ("Void-turn filtering (tool mask on)", naive, fixed),
            ("Void-turn filtering (tool mask off)", arm(calls: true, filter: false, mask: false), arm(calls: true, filter: true, mask: false)),
            ("Tool-output masking (void filter off)", arm(calls: true, filter: false, mask: false), naive),
            ("Tool-output masking (void filter on)", arm(calls: true, filter: true, mask: false), fixed),
            ("Multi-turn vs single-turn (naive multi-turn vs the single-turn arm)", naive,
             summaries.first { $0.arm.maxToolCalls <= 1 }),
        ]
        for (title, a, b) in pairs {
            guard let a, let b else { continue }
            let (v, text) = compare(a, b)
            out.append("- **\(title)**: \(text) The first arm less stable than the second: \(verdictWords(v)).")
        }
        if totalSpikes == 0 && !tooShort {
            out.append("- No arm had a single spike: at this scale every arm is equally stable, so neither the "
                       + "instability nor its fix could be shown.")
        }

        // 3. The mechanism SimpleTIR proposes: low-probability tokens right after tool output.
        if let a = naive ?? summaries.first {
            let after = a["low_prob_after_tool"].mean, elsewhere = a["low_prob_elsewhere"].mean
            let relation: String
            if !(after.isFinite && elsewhere.isFinite) {
                relation = "could not be measured (no tool observations)"
            } else if after > 2 * elsewhere && after > 0 {
                relation = String(format: "%.1fx as frequent right after tool output: consistent with SimpleTIR's diagnosis", after / max(elsewhere, 1e-12))
            } else {
                relation = "not markedly more frequent right after tool output: the OOD-feedback mechanism is weak here"
            }
            out.append("- **Where low-probability tokens sit** (`\(a.arm.name)`): tokens sampled with p < 1e-3 are "
                       + "\(pct(after)) of the first 4 policy tokens after a tool observation vs \(pct(elsewhere)) "
                       + "elsewhere, \(relation). Executed code failed in \(pct(a["exec_error_rate"].mean)) of calls "
                       + "(error feedback never appears in the pretraining corpus), and \(pct(a["void_turn_ratio"].mean)) "
                       + "of trajectories had a void turn.")
        }
        // 4. Collapse to void turns (a failure mode without a grad-norm spike: all-void groups have no signal).
        var collapsed: [String] = []
        for a in summaries {
            for (run, st) in zip(a.runs, a.stats) where (st.values["void_turn_final"] ?? 0) >= 0.5 && !((st.values["void_turn_first"] ?? 0) >= 0.5) {
                collapsed.append("`\(a.arm.name)` seed \(run.seed) (\(pct(st.values["void_turn_final"]!)))")
            }
        }
        out.append("- **Collapse to void turns** (at least half of the trajectories of the last \(RunStats.finalWindow) steps "
                   + "have a void turn, fewer in the first \(RunStats.finalWindow)): " + (collapsed.isEmpty ? "no run." : collapsed.joined(separator: ", ") + "."))
        // 5. Learning, for context.
        let acc = summaries.map { "`\($0.arm.name)` \(pct($0["accuracy_first"].mean)) -> \(pct($0["accuracy_final"].mean))" }
        out.append("- **Training accuracy** (first -> last \(RunStats.finalWindow) steps, mean over seeds): " + acc.joined(separator: "; ") + ".")
        return out.joined(separator: "\n")
    }
}
