import XCTest
@testable import Tensor

/// Naive O(T^2) causal attention in Double with grouped-query heads.
/// qkv: [B*T, (H + 2 KV) hd] -> [B*T, H hd]; query head h reads KV head h / (H / KV).
private func referenceAttention(_ qkv: [Float], batch: Int, seqLen t: Int, heads: Int, kvHeads: Int? = nil,
                                width: Int) -> [Double] {
    let kv = kvHeads ?? heads, hd = width / (heads + 2 * kv), d = heads * hd, group = heads / kv
    var out = [Double](repeating: 0, count: batch * t * d)
    for b in 0..<batch {
        for h in 0..<heads {
            let k0 = d + (h / group) * hd, v0 = d + (kv + h / group) * hd
            for i in 0..<t {
                let qi = (b * t + i) * width + h * hd
                var scores = (0...i).map { j -> Double in
                    let kj = (b * t + j) * width + k0
                    return (0..<hd).reduce(0.0) { $0 + Double(qkv[qi + $1]) * Double(qkv[kj + $1]) } / Double(hd).squareRoot()
                }
                let m = scores.max()!
                scores = scores.map { Foundation.exp($0 - m) }
                let z = scores.reduce(0, +)
                for j in 0...i {
                    let vj = (b * t + j) * width + v0
                    for c in 0..<hd { out[(b * t + i) * d + h * hd + c] += scores[j] / z * Double(qkv[vj + c]) }
                }
            }
        }
    }
    return out
}

final class AttentionTests: XCTestCase {
    func testValuesAgainstNaiveLoop() throws {
        // T = 70 spans two query blocks (64 + 6).
        for (b, t, h, hd) in [(2, 70, 2, 8), (1, 1, 1, 2), (3, 5, 3, 4)] {
            let qkv = scale(randomTensor([b * t, 3 * h * hd], seed: UInt64(t)), 2)
            let y = try causalAttention(qkv, batch: b, seqLen: t, heads: h)
            XCTAssertEqual(y.shape, [b * t, h * hd])
            let ref = referenceAttention(qkv.array, batch: b, seqLen: t, heads: h, width: 3 * h * hd)
            for (a, r) in zip(y.array, ref) { XCTAssertEqual(Double(a), r, accuracy: 2e-5) }
        }
    }

    func testGradients() throws {
        let qkv = randomTensor([2 * 5, 3 * 2 * 4], seed: 1)   // B=2, T=5, H=2, hd=4
        try assertGradients([qkv]) { try causalAttention($0[0], batch: 2, seqLen: 5, heads: 2) }
        let one = randomTensor([1, 6], seed: 2)               // T=1, one head, hd=2: output = v
        try assertGradients([one]) { try causalAttention($0[0], batch: 1, seqLen: 1, heads: 1) }
        XCTAssertEqual(try causalAttention(one, batch: 1, seqLen: 1, heads: 1).array, Array(one.array[4...]))
    }

    func testGroupedQueryValuesAgainstNaiveLoop() throws {
        // SmolLM2's ratio (3 query heads per KV head) and Qwen2.5-0.5B's (7 per KV head), and T = 70 across blocks.
        for (b, t, h, kv, hd) in [(2, 70, 6, 2, 8), (1, 9, 7, 1, 4), (3, 5, 4, 4, 2)] {
            let qkv = scale(randomTensor([b * t, (h + 2 * kv) * hd], seed: UInt64(t + h)), 2)
            let y = try causalAttention(qkv, batch: b, seqLen: t, heads: h, kvHeads: kv)
            XCTAssertEqual(y.shape, [b * t, h * hd])
            let ref = referenceAttention(qkv.array, batch: b, seqLen: t, heads: h, kvHeads: kv, width: (h + 2 * kv) * hd)
            for (a, r) in zip(y.array, ref) { XCTAssertEqual(Double(a), r, accuracy: 2e-5) }
        }
    }

    func testGroupedQueryGradients() throws {
        // dK and dV of a KV head are the sums over the query heads that share it.
        let qkv = randomTensor([2 * 5, (4 + 2 * 2) * 4], seed: 11)   // B=2, T=5, H=4, KV=2, hd=4
        try assertGradients([qkv]) { try causalAttention($0[0], batch: 2, seqLen: 5, heads: 4, kvHeads: 2) }
        let mqa = randomTensor([6, (3 + 2) * 2], seed: 12)           // multi-query: H=3, KV=1, hd=2
        try assertGradients([mqa]) { try causalAttention($0[0], batch: 1, seqLen: 6, heads: 3, kvHeads: 1) }
        XCTAssertThrowsError(try causalAttention(mqa, batch: 1, seqLen: 6, heads: 3, kvHeads: 2))   // 2 does not divide 3
    }

    func testGradientsAcrossQueryBlocks() throws {
        // T = 66 > attentionBlock: the backward's second block reads keys of the first. Perturb only the
        // first two and last two rows (one head, hd = 2) so the check stays fast; the middle is fixed and
        // small, so the last queries attend mostly to the perturbed keys and their gradients are large.
        let first = scale(randomTensor([2, 6], seed: 3), 2.5), last = scale(randomTensor([2, 6], seed: 5), 2.5)
        let middle = scale(randomTensor([62, 6], seed: 4), 0.1)
        try assertGradients([first, last], eps: 3e-3, tol: 3e-3) {
            try causalAttention(try concatRows([$0[0], middle, $0[1]]), batch: 1, seqLen: 66, heads: 1)
        }
    }

    func testDecodeKernelMatchesLastRow() throws {
        // A KV-cache step: the last query alone (queryStart = T-1) against all T keys.
        let t = 9, heads = 2, hd = 4, d = heads * hd
        let qkv = randomTensor([t, 3 * d], seed: 4)
        let full = try causalAttention(qkv, batch: 1, seqLen: t, heads: heads).array
        let out = Tensor(zeros: [d])
        let scratch = Tensor(zeros: [Kernels.attentionScratchCount(keys: t)])
        for h in 0..<heads {
            let x = qkv.data + h * hd
            Kernels.attentionHead(q: x + (t - 1) * 3 * d, ldq: 3 * d, k: x + d, ldk: 3 * d, v: x + 2 * d, ldv: 3 * d,
                                  out: out.data + h * hd, ldo: d, queries: 1, queryStart: t - 1, headDim: hd, lse: nil,
                                  scratch: scratch.data)
        }
        for (a, b) in zip(out.array, full[((t - 1) * d)...]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testShapeMismatchThrows() {
        XCTAssertThrowsError(try causalAttention(Tensor(zeros: [10, 24]), batch: 2, seqLen: 4, heads: 2)) {
            XCTAssertTrue("\($0)".contains("causalAttention") && "\($0)".contains("[10, 24]"))
        }
        XCTAssertThrowsError(try causalAttention(Tensor(zeros: [8, 20]), batch: 2, seqLen: 4, heads: 2))
        XCTAssertThrowsError(try causalAttention(Tensor(zeros: [8, 24]), batch: 0, seqLen: 4, heads: 2))
    }
}

final class BiasTests: XCTestCase {
    func testValuesAndGradients() throws {
        let x = randomTensor([5, 6], seed: 1), b = randomTensor([6], seed: 2)
        let y = try addBias(x, b).array
        for r in 0..<5 { for c in 0..<6 { XCTAssertEqual(y[r * 6 + c], x.array[r * 6 + c] + b.array[c]) } }
        try assertGradients([x, b]) { try addBias($0[0], $0[1]) }
        XCTAssertThrowsError(try addBias(x, randomTensor([5], seed: 3)))
    }
}

final class HeadLogProbsTests: XCTestCase {
    /// Equal to the unfused head (logits, temperature, gatherLogProbs), chunked or not, and its gradients
    /// (to the hidden states and to the head's weights) check against finite differences.
    func testMatchesUnfusedHeadAndGradients() throws {
        let h = randomTensor([7, 5], seed: 1), w = randomTensor([11, 5], seed: 2)
        let targets: [Int32] = [0, 3, 10, 4, 4, 9, 1]
        for t: Float in [1, 0.7] {
            let unfused = try gatherLogProbs(scale(try linear(h, w), 1 / t), targets: targets).array
            for chunk in [1, 3, 256] {
                let fused = try headLogProbs(h, w, targets: targets, temperature: t, chunkRows: chunk).array
                for (a, b) in zip(fused, unfused) { XCTAssertEqual(a, b, accuracy: 1e-6, "t \(t), chunk \(chunk)") }
            }
            try assertGradients([h, w]) { try headLogProbs($0[0], $0[1], targets: targets, temperature: t, chunkRows: 3) }
        }
        // Greedy (temperature 0) is scored as temperature 1, the sampler's rule.
        XCTAssertEqual(try headLogProbs(h, w, targets: targets, temperature: 0).array,
                       try headLogProbs(h, w, targets: targets, temperature: 1).array)
        XCTAssertThrowsError(try headLogProbs(h, w, targets: [11, 0, 0, 0, 0, 0, 0]))
    }
}
