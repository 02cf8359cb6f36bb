import XCTest
@testable import Tensor

final class SmallRowsGEMMTests: XCTestCase {
    /// Runs smallRowsLinear on x [rows, lda] (first inDim columns used), W [outDim, inDim], and an initial out,
    /// and checks every element against a Double triple loop, relative to sum_k |x w| + |beta out|.
    private func check(rows: Int, outDim: Int, inDim: Int, lda: Int, beta: Float, seed: UInt64,
                       file: StaticString = #filePath, line: UInt = #line) {
        let x = randomTensor([rows, lda], seed: seed).array
        let w = randomTensor([outDim, inDim], seed: seed + 1).array
        let out0 = randomTensor([rows, outDim], seed: seed + 2).array
        var got = beta == 0 ? [Float](repeating: .nan, count: rows * outDim) : out0   // beta 0 must ignore out
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                got.withUnsafeMutableBufferPointer { op in
                    Kernels.smallRowsLinear(x: xp.baseAddress!, lda: lda, w: wp.baseAddress!, out: op.baseAddress!,
                                            rows: rows, outDim: outDim, inDim: inDim, beta: beta)
                }
            }
        }
        // The same product through OpenBLAS, as a second reference.
        var blas = out0
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                blas.withUnsafeMutableBufferPointer { op in
                    Kernels.sgemm(transA: false, transB: true, m: rows, n: outDim, k: inDim, a: xp.baseAddress!,
                                  lda: lda, b: wp.baseAddress!, ldb: inDim, beta: beta, c: op.baseAddress!, ldc: outDim)
                }
            }
        }
        for r in 0..<rows {
            for n in 0..<outDim {
                var ref = Double(beta) * Double(out0[r * outDim + n]), scale = abs(ref)
                for k in 0..<inDim {
                    let p = Double(x[r * lda + k]) * Double(w[n * inDim + k])
                    ref += p; scale += abs(p)
                }
                let g = Double(got[r * outDim + n]), b = Double(blas[r * outDim + n])
                let tol = 1e-4 * max(scale, 1e-6)
                if !(abs(g - ref) <= tol) || !(abs(b - ref) <= tol) {
                    XCTFail("rows \(rows) out \(outDim) in \(inDim) lda \(lda) beta \(beta): [\(r), \(n)] = \(g), "
                            + "sgemm \(b), reference \(ref)", file: file, line: line)
                    return
                }
            }
        }
    }

    func testMatchesReferenceOnOddShapes() {
        var seed: UInt64 = 10
        for rows in [1, 3, 8, 16, 17, 32] {
            for (outDim, inDim) in [(1, 1), (5, 7), (13, 33), (29, 64)] {
                for beta: Float in [0, 1] {
                    check(rows: rows, outDim: outDim, inDim: inDim, lda: inDim + 3, beta: beta, seed: seed)
                    seed += 3
                }
            }
        }
    }

    func testLargeEnoughToSplitOverWorkers() {
        // 16 rows x 600 outputs x 301 inputs is above the split threshold (Kernels.gemmSplitMACs).
        XCTAssertGreaterThan(16 * 600 * 301, Kernels.gemmSplitMACs)
        check(rows: 16, outDim: 600, inDim: 301, lda: 301, beta: 0, seed: 1)
        check(rows: 24, outDim: 37, inDim: 301, lda: 310, beta: 1, seed: 2)
        check(rows: 5, outDim: 260, inDim: 256, lda: 256, beta: 0.5, seed: 3)
        // 8 rows, even inDim (the AVX-512 pair kernel when built for it), above the threshold too.
        XCTAssertGreaterThan(8 * 1100 * 300, Kernels.gemmSplitMACs)
        check(rows: 8, outDim: 1100, inDim: 300, lda: 302, beta: 1, seed: 6)
    }

    func testMoreRowsThanOneChunk() {
        check(rows: 37, outDim: 19, inDim: 23, lda: 23, beta: 1, seed: 4)
        check(rows: 64, outDim: 12, inDim: 9, lda: 11, beta: 0, seed: 5)
        check(rows: 45, outDim: 40, inDim: 64, lda: 70, beta: 1, seed: 7)   // even inDim: 6 pair-tile blocks
    }

    func testZeroInnerDimensionScalesOut() {
        var out: [Float] = [1, 2, 3, 4, 5, 6]
        let x: [Float] = [0], w: [Float] = [0]
        out.withUnsafeMutableBufferPointer { op in
            Kernels.smallRowsLinear(x: x, lda: 1, w: w, out: op.baseAddress!, rows: 2, outDim: 3, inDim: 0, beta: 2)
        }
        XCTAssertEqual(out, [2, 4, 6, 8, 10, 12])
    }

    /// Both kernel paths of one binary: the AVX-512 pair tile (where the CPU has AVX-512) and the AVX2 tiles
    /// forced with `useAVX512 = false`, as TIR_NO_AVX512=1 does. Each matches the reference, and they agree.
    func testAVX2AndAVX512PathsAgree() {
        let saved = Kernels.useAVX512
        defer { Kernels.useAVX512 = saved }
        let paths = CPUFeatures.current.hasAVX512 ? [true, false] : [false]
        let (rows, outDim, inDim) = (13, 37, 64)
        let x = randomTensor([rows, inDim], seed: 21).array, w = randomTensor([outDim, inDim], seed: 22).array
        var results = [[Float]]()
        for avx512 in paths {
            Kernels.useAVX512 = avx512
            XCTAssertEqual(Kernels.smallRowsMax, avx512 ? 64 : 8)
            testMatchesReferenceOnOddShapes()
            testMoreRowsThanOneChunk()
            var out = [Float](repeating: 0, count: rows * outDim)
            out.withUnsafeMutableBufferPointer { op in
                Kernels.smallRowsLinear(x: x, lda: inDim, w: w, out: op.baseAddress!, rows: rows, outDim: outDim,
                                        inDim: inDim, beta: 0)
            }
            results.append(out)
        }
        for (a, b) in zip(results.first!, results.last!) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(a))) }
    }
}
