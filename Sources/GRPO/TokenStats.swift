import Foundation
import Tensor
import Model
import Rollout

/// Mask-weighted sum of per-row entropies of softmax(logits) and the weight (sum of the mask), so
/// micro-batches can be merged: mean = sum / weight. Rows with mask 0 are not visited.
/// logits: [rows, vocab] row-major. Per row, with e_j = exp(x_j - max) and S = sum_j e_j:
///   H = -sum_j p_j log p_j = log S - sum_j e_j (x_j - max) / S     (stable: no exp overflow, no log 0)
public func maskedEntropySum(logits: UnsafePointer<Float>, rows: Int, vocab: Int,
                             mask: [Float]) throws -> (sum: Double, weight: Double) {
    try require(rows >= 0 && vocab > 0, "maskedEntropy: bad shape [\(rows), \(vocab)]")
    try require(mask.count == rows, "maskedEntropy: \(mask.count) mask values for \(rows) rows")
    var h = [Double](repeating: 0, count: rows)
    mask.withUnsafeBufferPointer { m in
        h.withUnsafeMutableBufferPointer { hb in
            let hp = hb.baseAddress!
            parallelFor(rows, minChunk: 64) { range in
                for i in range where m[i] != 0 {
                    let x = logits + i * vocab
                    var mx = -Float.infinity
                    for j in 0..<vocab { mx = max(mx, x[j]) }
                    var s = 0.0, sx = 0.0
                    for j in 0..<vocab {
                        let z = x[j] - mx
                        let e = Double(expf(z))
                        s += e
                        if e > 0 { sx += e * Double(z) }   // e == 0 where z = -inf: skip 0 * -inf
                    }
                    hp[i] = (log(s) - sx / s) * Double(m[i])
                }
            }
        }
    }
    return (h.reduce(0, +), mask.reduce(0.0) { $0 + Double($1) })
}

/// Mean entropy (nats) of softmax(logits) over rows with a non-zero mask (mask-weighted).
/// NaN when the mask is all zero (the metrics log writes it as null).
public func maskedEntropy(logits: UnsafePointer<Float>, rows: Int, vocab: Int, mask: [Float]) throws -> Double {
    let (sum, weight) = try maskedEntropySum(logits: logits, rows: rows, vocab: vocab, mask: mask)
    return weight > 0 ? sum / weight : .nan
}

/// For each threshold t, the fraction of masked tokens whose sampling probability is below t
/// (log-prob < log t), counted over rows with a non-zero mask. NaN entries when no row is masked.
/// samplingLogProbs: [N], mask: [N] -> [thresholds.count]
public func lowProbabilityFractions(samplingLogProbs: [Float], mask: [Float],
                                    thresholds: [Float] = [1e-3, 1e-6]) throws -> [Float] {
    try require(samplingLogProbs.count == mask.count,
                "lowProbabilityFractions: \(samplingLogProbs.count) log-probs for \(mask.count) mask values")
    try require(thresholds.allSatisfy { $0 > 0 && $0.isFinite }, "lowProbabilityFractions: thresholds must be > 0")
    let logT = thresholds.map { log(Double($0)) }
    var below = [Int](repeating: 0, count: thresholds.count)
    var total = 0
    for i in 0..<mask.count where mask[i] != 0 {
        total += 1
        let lp = Double(samplingLogProbs[i])
        for k in 0..<logT.count where lp < logT[k] { below[k] += 1 }
    }
    return below.map { total > 0 ? Float(Double($0) / Double(total)) : .nan }
}
