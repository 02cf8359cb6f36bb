import Foundation
import Rollout
import Tensor

/// Where a token sits in its episode: the positions the gradient attribution sums over.
public enum TokenPlace: UInt8, Sendable, CaseIterable {
    /// A policy token not in the places below (and every prompt token).
    case other
    /// One of the first `afterToolWindow` policy tokens after a tool observation (SimpleTIR's diagnosis: the
    /// out-of-distribution feedback makes them unlikely).
    case afterTool
    /// A policy token of a void turn (neither code nor answer), not already after a tool.
    case void
    /// A tool-output token (it carries gradient only when tool tokens are not masked).
    case tool

    public var name: String {
        switch self {
        case .other: return "other"
        case .afterTool: return "after_tool"
        case .void: return "void"
        case .tool: return "tool"
        }
    }
}

/// Policy tokens after a tool observation that count as "after tool".
public let afterToolWindow = 4

/// The place of every token of `t`, aligned with `t.tokens`. After-tool wins over void when both hold.
public func tokenPlaces(_ t: Trajectory) -> [TokenPlace] {
    var places = [TokenPlace](repeating: .other, count: t.tokens.count)
    for turn in t.turns where turn.isVoid {
        for i in turn.policyRange where i < places.count && t.roles[i] == .policy { places[i] = .void }
    }
    var sinceTool = Int.max
    for i in t.tokens.indices {
        switch t.roles[i] {
        case .tool: sinceTool = 0; places[i] = .tool
        case .prompt: continue
        case .policy:
            if sinceTool < afterToolWindow { places[i] = .afterTool }
            if sinceTool != Int.max { sinceTool += 1 }
        }
    }
    return places
}

/// Per row of logits [rows, vocab] with a non-zero mask: the squared norm of the gradient of log p_t with
/// respect to the row's logits, where p = softmax(row) and t the row's target:
///   |d log p_t / d z|^2 = |e_t - p|^2 = (1 - p_t)^2 + sum_{j != t} p_j^2 = 1 - 2 p_t + sum_j p_j^2,
/// about 0 when p_t is near 1 and up to 2 when p_t is near 0. Computed in Double as sum_{j != t} p_j squared
/// plus the squares (no cancellation when p_t is near 1). Rows with mask 0 get 0.
public func logitGradientFactors(logits: UnsafePointer<Float>, rows: Int, vocab: Int, targets: [Int32],
                                 mask: [Float]) throws -> [Float] {
    try require(rows >= 0 && vocab > 0 && targets.count == rows && mask.count == rows,
                "logitGradientFactors: [\(rows), \(vocab)] logits with \(targets.count) targets and \(mask.count) mask values")
    if let bad = targets.first(where: { $0 < 0 || Int($0) >= vocab }) {
        throw GRPOError("logitGradientFactors: target id \(bad) outside vocabulary 0..<\(vocab)")
    }
    var out = [Float](repeating: 0, count: rows)
    out.withUnsafeMutableBufferPointer { o in
        let op = o.baseAddress!
        parallelFor(rows, minChunk: 64) { range in
            for i in range where mask[i] != 0 {
                let x = logits + i * vocab, t = Int(targets[i])
                var mx = -Float.infinity
                for j in 0..<vocab { mx = max(mx, x[j]) }
                var s = 0.0
                for j in 0..<vocab { s += Double(expf(x[j] - mx)) }
                var rest = 0.0, squares = 0.0
                for j in 0..<vocab where j != t {
                    let p = Double(expf(x[j] - mx)) / s
                    rest += p; squares += p * p
                }
                op[i] = Float(rest * rest + squares)
            }
        }
    }
    return out
}

/// Where the gradient of a step sits, token by token. A loss row i contributes g_i = f_i * c_i^2, with f_i
/// its logit-gradient factor (`logitGradientFactors`) and c_i = d loss / d logp_i, i.e. -A_i * ratio_i *
/// (mask and importance weight) / normalizer, and 0 when the row is clipped: g_i is exactly the squared
/// norm of the loss's gradient with respect to row i's logits, and the rows' g_i sum to the squared norm of
/// the whole logits gradient (rows are independent). On-policy (ratio 1) g_i is f_i * A_i^2 up to the
/// mini-batch's constant. Sums merge over micro-batches and updates with `add`.
public struct GradientAttribution: Sendable, Codable, Equatable {
    /// Bucket lower edges of the sampling (behaviour) probability: >= 0.5, [0.1, 0.5), [1e-3, 0.1), < 1e-3.
    public static let probabilityEdges: [Float] = [0.5, 0.1, 1e-3]
    public static let probabilityNames = ["p_ge_0.5", "p_0.1_0.5", "p_1e-3_0.1", "p_lt_1e-3"]

    public var byProbability = [Double](repeating: 0, count: 4)
    /// Indexed by `TokenPlace.rawValue`.
    public var byPlace = [Double](repeating: 0, count: TokenPlace.allCases.count)
    /// [positive advantage, negative advantage].
    public var byAdvantageSign = [0.0, 0.0]
    public var total = 0.0
    /// The same sum for clipped rows had they not been clipped, and over all rows: what clipping removed.
    public var clipped = 0.0
    public var unclippedTotal = 0.0
    /// Loss rows, and those whose sampling probability is below 1e-3.
    public var tokens = 0.0
    public var lowTokens = 0.0

    public init() {}

    public static func bucket(samplingLogProb lp: Float) -> Int {
        let p = expf(lp)
        return probabilityEdges.firstIndex { p >= $0 } ?? probabilityEdges.count
    }

    /// Adds the rows of one `policyLoss` call: `factors` from `logitGradientFactors` of its logits.
    public mutating func add(factors: [Float], terms: PolicyLossTerms, batch: PolicyLossBatch) throws {
        let n = batch.count
        try require(factors.count == n && terms.coefficients.count == n && batch.behaviourLogProbs.count == n
                    && batch.places.count == n,
                    "GradientAttribution.add: \(n) rows but \(factors.count) factors, \(terms.coefficients.count) terms, "
                    + "\(batch.behaviourLogProbs.count) behaviour log-probs and \(batch.places.count) places")
        for i in 0..<n where batch.mask[i] != 0 {
            let f = Double(factors[i]), c = Double(terms.coefficients[i]), u = Double(terms.unclippedCoefficients[i])
            let g = f * c * c
            let b = Self.bucket(samplingLogProb: batch.behaviourLogProbs[i])
            byProbability[b] += g
            byPlace[Int(batch.places[i].rawValue)] += g
            if batch.advantages[i] > 0 { byAdvantageSign[0] += g } else if batch.advantages[i] < 0 { byAdvantageSign[1] += g }
            total += g
            unclippedTotal += f * u * u
            if terms.clip[i] != .none { clipped += f * u * u }
            tokens += 1
            if b == Self.probabilityEdges.count { lowTokens += 1 }
        }
    }

    public mutating func add(_ o: GradientAttribution) {
        for i in byProbability.indices { byProbability[i] += o.byProbability[i] }
        for i in byPlace.indices { byPlace[i] += o.byPlace[i] }
        for i in byAdvantageSign.indices { byAdvantageSign[i] += o.byAdvantageSign[i] }
        total += o.total; clipped += o.clipped; unclippedTotal += o.unclippedTotal
        tokens += o.tokens; lowTokens += o.lowTokens
    }

    /// Share of the step's logit-gradient mass carried by tokens sampled with probability < 1e-3 (NaN: no mass).
    public var lowProbabilityShare: Double { share(byProbability[Self.probabilityEdges.count]) }

    func share(_ x: Double) -> Double { total > 0 ? x / total : .nan }

    /// The metrics of one step (`tir/` names: no verl counterpart).
    public var metrics: [String: Double] {
        var m: [String: Double] = ["tir/lowprob_grad_share": lowProbabilityShare,
                                   "tir/lowprob_token_share": tokens > 0 ? lowTokens / tokens : .nan,
                                   "tir/grad_share_adv_pos": share(byAdvantageSign[0]),
                                   "tir/grad_share_adv_neg": share(byAdvantageSign[1]),
                                   "tir/clipped_grad_share": unclippedTotal > 0 ? clipped / unclippedTotal : .nan]
        for (k, name) in Self.probabilityNames.enumerated().dropLast() { m["tir/grad_share_" + name] = share(byProbability[k]) }
        for p in TokenPlace.allCases { m["tir/grad_share_" + p.name] = share(byPlace[Int(p.rawValue)]) }
        return m
    }
}
