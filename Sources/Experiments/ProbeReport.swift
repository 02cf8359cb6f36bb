import Foundation
import GRPO

/// Markdown tables of base probes: one summary line per probe, then each probe's turns.
public func probeMarkdown(_ probes: [(label: String, probe: BaseProbe)]) -> String {
    func pct(_ x: Double, _ digits: Int = 1) -> String { x.isFinite ? String(format: "%.\(digits)f%%", 100 * x) : "n/a" }
    func num(_ x: Double, _ f: String) -> String { x.isFinite ? String(format: f, x) : "n/a" }
    var t = "| probe | trajectories | accuracy | tool calls | void-turn traj. | exec errors | entropy / token | p<1e-3 tokens | sampler | mean / max abs(p_sampler - p_trainer) |\n"
    t += "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n"
    for (label, p) in probes {
        t += "| \(label) | \(p.trajectories) | \(pct(p.accuracy)) | \(pct(p.toolCallRate)) | \(pct(p.voidTurnRate)) | \(pct(p.execErrorRate))"
            + " | \(num(p.entropy, "%.3f")) | \(pct(p.lowProbFraction, 2)) | \(p.sampler) | \(num(p.probDiffMean, "%.2e")) / \(num(p.probDiffMax, "%.3f")) |\n"
    }
    t += "\nPer turn (turn 0 is the first; turn k >= 1 follows the k-th tool observation). \"First\" = the turn's first "
        + "\(afterToolWindow) policy tokens; grad share = the turn's share of the batch's on-policy logit-gradient mass "
        + "(sum of |e_t - p|^2 A^2 per token; n/a when no group has a reward signal), and the part of it on tokens sampled "
        + "with p < 1e-3; factor share = the same without the advantages (where the gradient would sit with equal advantages).\n\n"
    t += "| probe | turn | reached | void | tokens | entropy | entropy, first | p<1e-3 | p<1e-3, first | grad share | grad share p<1e-3 | factor share |\n"
    t += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for (label, p) in probes {
        for r in p.byTurn {
            t += "| \(label) | \(r.turn) | \(r.turns) | \(pct(r.voidRate)) | \(r.tokens) | \(num(r.entropy, "%.3f")) | \(num(r.headEntropy, "%.3f"))"
                + " | \(pct(r.lowProb, 2)) | \(pct(r.headLowProb, 2)) | \(pct(r.gradShare)) | \(pct(r.lowProbGradShare)) | \(pct(r.factorShare)) |\n"
        }
    }
    return t
}

