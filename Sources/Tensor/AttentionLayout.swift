import Foundation

/// Which keys each row of a packed attention batch sees. The rows [N] are cut into segments, in order, that
/// cover them all. A segment is one sequence: its row i sits at position i and attends causally to the
/// segment's rows 0...i. A segment may also have a prefix, the rows of an earlier segment without a prefix
/// (a prompt that several sequences share): then its rows also see every prefix row and their positions
/// continue after it (row i at prefix.count + i), so prefix and segment together are one sequence, and the
/// prefix is computed once for all the segments that share it.
///
/// A right-padded [B, T] batch is B segments of T rows (`init(batch:seqLen:)`).
public struct AttentionLayout: Equatable, Sendable {
    public struct Segment: Equatable, Sendable {
        public var rows: Range<Int>
        public var prefix: Range<Int>?
    }
    public private(set) var segments: [Segment] = []

    public init() {}

    /// B segments of T rows, no prefixes: a right-padded batch.
    public init(batch: Int, seqLen: Int) {
        for _ in 0..<batch { append(rows: seqLen) }
    }

    /// Rows covered.
    public var rows: Int { segments.last?.rows.upperBound ?? 0 }

    /// Appends a segment of `count` rows after the last one; `prefix` must be an earlier prefix-free segment.
    public mutating func append(rows count: Int, prefix: Range<Int>? = nil) {
        segments.append(Segment(rows: rows..<(rows + count), prefix: prefix))
    }

    /// Position of every row (the RoPE angle): its index in its segment, after the prefix if it has one.
    public var positions: [Int32] {
        var p = [Int32](repeating: 0, count: rows)
        for s in segments {
            let start = s.prefix?.count ?? 0
            for (i, r) in s.rows.enumerated() { p[r] = Int32(start + i) }
        }
        return p
    }

    /// The longest sequence a row belongs to (prefix included).
    public var longestSequence: Int { segments.map { $0.rows.count + ($0.prefix?.count ?? 0) }.max() ?? 0 }

    /// Throws unless the segments are non-empty, ordered, cover 0..<rows without gaps, and every prefix is
    /// an earlier segment without a prefix.
    public func validate(rows n: Int) throws {
        var next = 0, prefixFree = Set<Range<Int>>()
        for (k, s) in segments.enumerated() {
            try check(s.rows.lowerBound == next && !s.rows.isEmpty,
                      "AttentionLayout: segment \(k) has rows \(s.rows); segments must be non-empty and follow each other from row 0")
            if let p = s.prefix {
                try check(prefixFree.contains(p), "AttentionLayout: segment \(k)'s prefix \(p) is not an earlier segment without a prefix")
            } else {
                prefixFree.insert(s.rows)
            }
            next = s.rows.upperBound
        }
        try check(next == n, "AttentionLayout: segments cover \(next) rows, the batch has \(n)")
    }
}
