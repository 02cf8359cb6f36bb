import Foundation

/// The progress line of long work: `label step/total  rate  ETA  key metrics`, rewritten in place on a
/// terminal and printed as plain lines otherwise (`Status.line`). Rate and ETA count only the steps done
/// since the first update (a resumed run's earlier steps are not in them), unless the caller knows better.
final class ProgressLine {
    let label: String
    let total: Int
    private let start = Date()
    private var startStep: Int?

    init(_ label: String, total: Int) {
        self.label = label
        self.total = total
    }

    /// Shows step `step` done; `eta` replaces the estimate from this line's own rate.
    func show(step: Int, _ detail: String, eta: Double? = nil, final: Bool = false) {
        if startStep == nil { startStep = step - 1 }
        let done = Double(step - (startStep ?? 0)), perSecond = done / max(Date().timeIntervalSince(start), 1e-9)
        let rate = done <= 0 ? "-" : perSecond >= 1 ? String(format: "%.1f step/s", perSecond) : String(format: "%.1f s/step", 1 / perSecond)
        let left = eta ?? (done > 0 ? Double(total - step) / perSecond : .nan)
        Status.line("\(label) \(step)/\(total)  \(rate)  ETA \(duration(left))  \(detail)", final: final || step >= total)
    }

    /// A GRPO metrics line (verl names) as progress.
    func showGRPO(_ m: [String: Double]) { show(step: Int(m["step"] ?? 0), grpoSummary(m)) }
}

/// The key figures of a GRPO step: reward, accuracy, pre-clip grad norm, tool use, void turns, length, time split.
func grpoSummary(_ m: [String: Double]) -> String {
    func f(_ k: String) -> Double { m[k] ?? .nan }
    return String(format: "reward %+.3f  acc %.2f  grad %.3f  tool %.2f  void %.2f  len %.0f  %.1fs (rollout %.1f, sandbox %.1f, update %.1f)",
                  f("critic/score/mean"), f("tir/accuracy"), f("actor/grad_norm"), f("tir/tool_call_rate"),
                  f("env/void_turn_ratio"), f("response_length/mean"), f("timing_s/step"), f("tir/timing_s/rollout"),
                  f("tir/timing_s/sandbox"), f("tir/timing_s/update") + f("tir/timing_s/logprob"))
}
