import XCTest
@testable import Tensor

final class PanelMatrixTests: XCTestCase {
    /// PanelMatrix.linear against a Double triple loop over the weights rounded to the panel's format, on the
    /// AVX-512 kernel (where the CPU has it) and on the portable one, relative to sum_k |x w| + |beta out|.
    private func check(rows: Int, outDim: Int, inDim: Int, lda: Int, beta: Float, seed: UInt64,
                       format: NumberFormat = .bf16, file: StaticString = #filePath, line: UInt = #line) throws {
        let x = randomTensor([rows, lda], seed: seed).array
        let w = randomTensor([outDim, inDim], seed: seed + 1).array
        let out0 = randomTensor([rows, outDim], seed: seed + 2).array
        let m = try PanelMatrix(outDim: outDim, inDim: inDim, format: format)
        w.withUnsafeBufferPointer { m.fill(from: $0.baseAddress!) }
        let paddedIn = format == .bf16 ? (inDim + 1) / 2 * 2 : inDim, bytes = format == .bf16 ? 2 : 4
        XCTAssertEqual(m.byteCount, (outDim + 15) / 16 * 16 * paddedIn * bytes, file: file, line: line)
        let saved = Kernels.useAVX512
        defer { Kernels.useAVX512 = saved }
        for avx512 in Set([saved, false]) {
            Kernels.useAVX512 = avx512
            var got = beta == 0 ? [Float](repeating: .nan, count: rows * outDim) : out0   // beta 0 must ignore out
            x.withUnsafeBufferPointer { xp in
                got.withUnsafeMutableBufferPointer { m.linear(x: xp.baseAddress!, lda: lda, out: $0.baseAddress!, rows: rows, beta: beta) }
            }
            for r in 0..<rows {
                for n in 0..<outDim {
                    var ref = Double(beta) * Double(out0[r * outDim + n]), scale = abs(ref)
                    for k in 0..<inDim {
                        let p = Double(x[r * lda + k]) * Double(format.round(w[n * inDim + k]))
                        ref += p; scale += abs(p)
                    }
                    let g = Double(got[r * outDim + n])
                    if !(abs(g - ref) <= 1e-5 * max(scale, 1e-6)) {
                        XCTFail("\(format) AVX-512 \(avx512), rows \(rows) out \(outDim) in \(inDim) lda \(lda) beta \(beta): "
                                + "[\(r), \(n)] = \(g), reference \(ref)", file: file, line: line)
                        return
                    }
                }
            }
        }
    }

    func testMatchesRoundedReferenceOnOddShapes() throws {
        var seed: UInt64 = 30
        for format: NumberFormat in [.bf16, .fp32] {
            for rows in [1, 5, 16, 17, 40] {
                for (outDim, inDim) in [(1, 1), (5, 7), (16, 2), (33, 64), (29, 65)] {
                    for beta: Float in [0, 1] {
                        try check(rows: rows, outDim: outDim, inDim: inDim, lda: inDim + 3, beta: beta, seed: seed, format: format)
                        seed += 3
                    }
                }
            }
        }
    }

    /// A prefill whose transposed rows exceed `chunkBytes` runs the panels once per chunk of row blocks.
    func testRowsInSeveralChunks() throws {
        let rows = 100, inDim = 1535, blocks = (rows + 15) / 16
        XCTAssertLessThan(PanelMatrix.chunkBytes / ((inDim + 1) / 2 * 32 * 4), blocks)
        try check(rows: rows, outDim: 33, inDim: inDim, lda: inDim + 1, beta: 1, seed: 5)
        try check(rows: rows, outDim: 33, inDim: inDim, lda: inDim + 1, beta: 1, seed: 6, format: .fp32)
    }

    func testLargeEnoughToSplitOverWorkers() throws {
        XCTAssertGreaterThan(16 * 640 * 300, Kernels.gemmSplitMACs)
        let saved = Threads.count
        defer { Threads.set(saved) }
        Threads.set(2)
        try check(rows: 16, outDim: 640, inDim: 300, lda: 300, beta: 0, seed: 1)
        try check(rows: 3, outDim: 1000, inDim: 257, lda: 260, beta: 0.5, seed: 2)
        try check(rows: 16, outDim: 640, inDim: 300, lda: 300, beta: 0, seed: 3, format: .fp32)
    }

    func testRejectsEmptyShapesAndFP16() {
        XCTAssertThrowsError(try PanelMatrix(outDim: 0, inDim: 4))
        XCTAssertThrowsError(try PanelMatrix(outDim: 4, inDim: 0))
        XCTAssertThrowsError(try PanelMatrix(outDim: 4, inDim: 4, format: .fp16))
    }
}
