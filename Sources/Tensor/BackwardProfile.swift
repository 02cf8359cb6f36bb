import Foundation

/// Wall time of the tape's backward rules by op name, summed over one or more `backward(profile:)` sweeps.
/// An op's rule runs its own kernels (and their worker forks); the time of one rule never includes another's.
public final class BackwardProfile {
    public struct Entry: Equatable, Sendable {
        public var op: String
        public var calls: Int
        public var seconds: Double
    }

    private var byOp: [String: (calls: Int, nanoseconds: UInt64)] = [:]

    public init() {}

    func add(op: String, nanoseconds: UInt64) {
        let e = byOp[op] ?? (0, 0)
        byOp[op] = (e.calls + 1, e.nanoseconds + nanoseconds)
    }

    /// One entry per op, the most expensive first (ties by name).
    public var entries: [Entry] {
        byOp.map { Entry(op: $0.key, calls: $0.value.calls, seconds: Double($0.value.nanoseconds) * 1e-9) }
            .sorted { ($0.seconds, $1.op) > ($1.seconds, $0.op) }
    }

    public var totalSeconds: Double { entries.reduce(0) { $0 + $1.seconds } }

    /// A table: op, calls, milliseconds and share of the total, the most expensive op first.
    public var report: String {
        let total = max(totalSeconds, 1e-12)
        let width = max(2, entries.map(\.op.count).max() ?? 2)
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? fill + s : s + fill
        }
        var lines = [pad("op", width) + "  " + pad("calls", 7, left: true) + "  " + pad("ms", 10, left: true) + "  share"]
        for e in entries {
            let ms = String(format: "%.3f", e.seconds * 1e3), share = String(format: "%5.1f%%", 100 * e.seconds / total)
            lines.append(pad(e.op, width) + "  " + pad(String(e.calls), 7, left: true) + "  " + pad(ms, 10, left: true) + "  " + share)
        }
        return lines.joined(separator: "\n")
    }
}
