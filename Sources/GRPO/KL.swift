import Foundation
import Tensor

/// Per-token estimators of KL(pi || pi_ref) from samples of pi, with x = logp - ref (Schulman,
/// "Approximating KL divergence"; verl core_algos.kl_penalty):
///   k1 = x;  k2 = 0.5 * x^2;  k3 = exp(-x) + x - 1 (verl "low_var_kl": kl = clamp(-x, -20, 20),
///   k3 = clamp(exp(kl) - kl - 1, -10, 10)).
public enum KLEstimator: String, Codable, CaseIterable, Sendable {
    case k1, k2, k3
}

/// KL penalty to a frozen reference policy as one fused op with a hand-written backward.
/// logProbs: [N] (with grad), refLogProbs: [N], mask: [N] -> scalar [] = sum_i m_i * k(x_i) / normalizer.
/// Pass the same mini-batch normalizer as the policy loss (token count for token-mean) and add
/// coef * this to the loss. d/dlogp: k1 -> 1, k2 -> x, k3 -> 1 - exp(-x) (0 where verl's clamps bind).
/// Rows with mask 0 are skipped: exactly zero gradient.
/// Combine it with the policy loss into ONE scalar before `backward()`: two backward sweeps over graphs
/// that share nodes (the same log-probs / logits) would propagate the first sweep's gradient twice.
public func klPenalty(_ logProbs: Tensor, refLogProbs: [Float], mask: [Float], estimator: KLEstimator,
                      normalizer: Float) throws -> Tensor {
    try require(logProbs.rank == 1, "klPenalty needs log-probs [N], got shape \(logProbs.shape)")
    let n = logProbs.count
    try require(refLogProbs.count == n && mask.count == n,
                "klPenalty: \(n) log-probs but \(refLogProbs.count) reference log-probs and \(mask.count) mask values")
    try require(normalizer.isFinite && normalizer > 0, "klPenalty: normalizer must be finite and > 0, got \(normalizer)")
    if let i = mask.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
        throw GRPOError("klPenalty: mask[\(i)] = \(mask[i]); masks must be finite and >= 0")
    }
    let norm = Double(normalizer)
    var coef = [Float](repeating: 0, count: n)
    var total = 0.0
    let lp = logProbs.data
    for i in 0..<n where mask[i] != 0 {
        let x = lp[i] - refLogProbs[i]
        let k: Float, dk: Float
        switch estimator {
        case .k1:
            k = x; dk = 1
        case .k2:
            k = 0.5 * x * x; dk = x
        case .k3:
            let kl = min(max(-x, -20), 20)
            let r = expf(kl)
            let raw = r - kl - 1
            k = min(max(raw, -10), 10)
            dk = (-x >= -20 && -x <= 20 && raw <= 10) ? 1 - r : 0
        }
        let w = Double(mask[i]) / norm
        total += w * Double(k)
        coef[i] = Float(w * Double(dk))
    }
    let out = Tensor(zeros: [])
    out.data[0] = Float(total)
    return Tensor.record(out, inputs: [logProbs]) { out in
        let g = out.grad![0], dx = logProbs.ensureGrad()
        for i in 0..<n where coef[i] != 0 { dx[i] += g * coef[i] }
    }
}
