import Foundation

/// Learning-rate schedules: constant, or linear warmup then cosine decay to `minRatio * peak`.
public enum LRSchedule: String, Codable, CaseIterable, Sendable {
    case constant, cosine

    public func lr(step: Int, total: Int, peak: Float, warmup: Int, minRatio: Float = 0.1) -> Float {
        if warmup > 0 && step < warmup { return peak * Float(step + 1) / Float(warmup) }
        switch self {
        case .constant: return peak
        case .cosine:
            let span = max(1, total - warmup)
            let progress = min(1, Float(step - warmup) / Float(span))
            let c = 0.5 * (1 + cosf(Float.pi * progress))
            return peak * (minRatio + (1 - minRatio) * c)
        }
    }
}
