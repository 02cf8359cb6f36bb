import XCTest
import Rollout
import Tensor
@testable import GRPO

/// Deterministic values in [lo, hi).
func randomFloats(_ n: Int, seed: UInt64, lo: Float = -1, hi: Float = 1) -> [Float] {
    var state = seed &+ 0x9E3779B97F4A7C15
    return (0..<n).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return lo + (hi - lo) * Float(state >> 40) / Float(1 << 24)
    }
}

/// A trajectory with the given roles; one turn per maximal run of policy tokens, the last one void if
/// `void`. Tokens cycle through 0..<vocab; sampling log-probs are 0 (tests set old log-probs per row).
func makeTrajectory(group: Int, roles: [TokenRole], reward: Float, void: Bool = false,
                    finish: FinishReason = .answer, vocab: Int = 7, offset: Int = 0) -> Trajectory {
    var turns: [Turn] = []
    var i = 0
    while i < roles.count {
        guard roles[i] == .policy else { i += 1; continue }
        var j = i
        while j < roles.count && roles[j] == .policy { j += 1 }
        var k = j
        while k < roles.count && roles[k] == .tool { k += 1 }
        turns.append(Turn(policyRange: i..<j, observationRange: k > j ? j..<k : nil,
                          hasCode: k > j, hasAnswer: k == j, isVoid: false, execution: k > j ? .ok : .none))
        i = k
    }
    if void { turns[turns.count - 1].isVoid = true; turns[turns.count - 1].hasAnswer = false }
    return Trajectory(taskId: "t\(group)-\(offset)", group: group,
                      tokens: roles.indices.map { Int32(($0 * 3 + offset) % vocab) }, roles: roles,
                      samplingLogProbs: [Float](repeating: 0, count: roles.count), turns: turns,
                      toolCalls: turns.filter(\.hasCode).count, finish: void ? .voidTurn : finish,
                      answer: nil, correct: reward > 0, reward: reward)
}

/// Loss (Double, from stats) and gradient w.r.t. the log-probs of one policyLoss call.
func lossAndGrad(_ lp: [Float], _ batch: PolicyLossBatch, _ config: PolicyLossConfig,
                 normalizer: Float) throws -> (loss: Double, grad: [Float], stats: PolicyLossStats) {
    let t = try Tensor(shape: [lp.count], lp, requiresGrad: true)
    let (loss, stats) = try policyLoss(t, batch: batch, config: config, normalizer: normalizer)
    try loss.backward()
    return (stats.pgLoss, t.gradArray!, stats)
}

/// Central finite differences of a Double-valued function of Float inputs, using the actually
/// representable perturbed values as the step.
func numericGradient(_ x: [Float], eps: Float = 1e-3, _ f: ([Float]) throws -> Double) rethrows -> [Double] {
    var out = [Double](repeating: 0, count: x.count)
    var y = x
    for i in x.indices {
        let p = x[i] + eps, m = x[i] - eps
        y[i] = p; let fp = try f(y)
        y[i] = m; let fm = try f(y)
        y[i] = x[i]
        out[i] = (fp - fm) / (Double(p) - Double(m))
    }
    return out
}

func assertClose(_ a: Double, _ b: Double, rel: Double = 1e-5, _ what: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssert(abs(a - b) <= rel * max(1, abs(b)), "\(what): \(a) vs expected \(b)", file: file, line: line)
}
