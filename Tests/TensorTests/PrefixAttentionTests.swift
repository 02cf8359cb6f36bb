import XCTest
@testable import Tensor

/// Attention over an `AttentionLayout` whose segments share a prefix: each member's rows compute what they
/// would as the tail of one sequence (prefix + member), the prefix's own rows what they would alone, and the
/// prefix's key/value gradient is the sum over everyone who reads it.
final class PrefixAttentionTests: XCTestCase {
    /// Rows `rows` of x [N, W], in order -> [rows.count, W].
    private func rows(_ x: Tensor, _ rs: [Int]) throws -> Tensor {
        let w = x.shape[1], a = x.array
        return try Tensor(shape: [rs.count, w], rs.flatMap { a[($0 * w)..<(($0 + 1) * w)] })
    }

    /// prefix (P rows), member A with the prefix, a plain sequence, member B with the prefix.
    private func layout(prefix p: Int, a: Int, plain: Int, b: Int) -> AttentionLayout {
        var l = AttentionLayout()
        l.append(rows: p)
        l.append(rows: a, prefix: 0..<p)
        l.append(rows: plain)
        l.append(rows: b, prefix: 0..<p)
        return l
    }

    func testMembersSeeTheirPrefixAsOneSequence() throws {
        // GQA (4 query heads on 2 KV heads, hd 4); member A spans two query blocks after a 40-row prefix.
        for (p, a, plain, b) in [(3, 4, 2, 5), (40, 70, 3, 1)] {
            let heads = 4, kv = 2, hd = 4, w = (heads + 2 * kv) * hd, d = heads * hd
            let l = layout(prefix: p, a: a, plain: plain, b: b)
            let qkv = scale(randomTensor([l.rows, w], seed: UInt64(p)), 2)
            let y = try causalAttention(qkv, layout: l, heads: heads, kvHeads: kv).array
            XCTAssertEqual(l.positions.prefix(p + 2), ArraySlice((0..<Int32(p)) + [Int32(p), Int32(p + 1)]))
            // Each segment against the same rows as one right-padded sequence of its own.
            let segments: [(own: Range<Int>, sequence: [Int])] = l.segments.map { s in
                (s.rows, Array(s.prefix ?? 0..<0) + Array(s.rows))
            }
            for s in segments {
                let alone = try causalAttention(try rows(qkv, s.sequence), batch: 1, seqLen: s.sequence.count,
                                                heads: heads, kvHeads: kv).array
                let tail = Array(alone[((s.sequence.count - s.own.count) * d)...])
                let got = Array(y[(s.own.lowerBound * d)..<(s.own.upperBound * d)])
                for (x, r) in zip(got, tail) { XCTAssertEqual(x, r, accuracy: 1e-5) }
            }
        }
    }

    func testGradients() throws {
        let l = layout(prefix: 3, a: 2, plain: 2, b: 3)
        let qkv = randomTensor([l.rows, (4 + 2 * 2) * 2], seed: 3)    // 4 query heads on 2 KV heads, hd 2
        try assertGradients([qkv], eps: 3e-3, tol: 3e-3) { try causalAttention($0[0], layout: l, heads: 4, kvHeads: 2) }
    }

    /// Backward with a prefix over several query blocks: the packed gradient of (prefix, one member) equals
    /// the gradient of the same rows as one sequence, with the prefix's outputs weighted alike.
    func testGradientAcrossQueryBlocksEqualsOneSequence() throws {
        let p = 30, a = 80, heads = 2, hd = 4, w = 3 * heads * hd
        var l = AttentionLayout()
        l.append(rows: p)
        l.append(rows: a, prefix: 0..<p)
        let x = randomTensor([p + a, w], seed: 9), weights = randomTensor([p + a, heads * hd], seed: 10)
        var grads: [[Float]] = []
        for packed in [true, false] {
            let q = try Tensor(shape: x.shape, x.array, requiresGrad: true)
            let y = packed ? try causalAttention(q, layout: l, heads: heads)
                           : try causalAttention(q, batch: 1, seqLen: p + a, heads: heads)
            try sum(try mul(y, weights)).backward()
            grads.append(q.gradArray!)
        }
        for (g1, g2) in zip(grads[0], grads[1]) { XCTAssertEqual(g1, g2, accuracy: 1e-5) }
    }

    func testBadLayoutsThrow() {
        let qkv = Tensor(zeros: [6, 12])
        var gap = AttentionLayout()
        gap.append(rows: 5)                              // covers 5 of 6 rows
        XCTAssertThrowsError(try causalAttention(qkv, layout: gap, heads: 2))
        var chained = AttentionLayout()
        chained.append(rows: 2); chained.append(rows: 2, prefix: 0..<2); chained.append(rows: 2, prefix: 2..<4)
        XCTAssertThrowsError(try causalAttention(qkv, layout: chained, heads: 2)) {   // a prefix with a prefix
            XCTAssertTrue("\($0)".contains("prefix"), "\($0)")
        }
        var notASegment = AttentionLayout()
        notASegment.append(rows: 3); notASegment.append(rows: 3, prefix: 0..<2)
        XCTAssertThrowsError(try causalAttention(qkv, layout: notASegment, heads: 2))
    }
}
