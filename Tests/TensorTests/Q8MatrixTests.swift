import XCTest
@testable import Tensor
import CQ8

final class Q8MatrixTests: XCTestCase {
    /// Plain C first, then the kernels this CPU runs.
    static let kernelsHere: [Q8Kernel] = {
        var kernels: [Q8Kernel] = [.plain]
        if CPUFeatures.current.hasAVX2 { kernels.append(.avx2) }
        if Q8Kernel.best == .vnni { kernels.append(.vnni) }
        return kernels
    }()

    /// The Swift kernel numbers are the C ones.
    func testKernelNumbersMatchTheHeader() {
        XCTAssertEqual(Q8Kernel.plain.rawValue, Int32(CQ8_PLAIN))
        XCTAssertEqual(Q8Kernel.vnni.rawValue, Int32(CQ8_VNNI))
        XCTAssertEqual(Q8Kernel.avx2.rawValue, Int32(CQ8_AVX2))
    }

    /// out = x Wᵀ + beta out against a Double triple loop over the exact weights and inputs, within the bound the
    /// format promises: per product term, |x| times half a weight step ((max - min) / 510 of its block) plus |w|
    /// times half an activation step (max |x| / 32766 of its block), plus fp32 rounding. Features past a whole
    /// panel, inputs past a whole block and rows past a 4-row group are covered by the odd shapes; beta 0 must
    /// ignore NaN in out. Every case runs on the plain C kernel and on each kernel the CPU has (AVX2, VNNI),
    /// which must give the same bits.
    private func check(rows: Int, outDim: Int, inDim: Int, lda: Int, beta: Float, seed: UInt64,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let x = randomTensor([rows, lda], seed: seed).array
        let w = randomTensor([outDim, inDim], seed: seed + 1).array
        let out0 = randomTensor([rows, outDim], seed: seed + 2).array
        let m = try Q8Matrix(outDim: outDim, inDim: inDim)
        XCTAssertEqual(m.byteCount, (outDim + 15) / 16 * ((inDim + 31) / 32) * 640, file: file, line: line)
        let saved = Kernels.q8Kernel
        defer { Kernels.q8Kernel = saved }
        var results: [[Float]] = []
        for kernel in Q8MatrixTests.kernelsHere {
            Kernels.q8Kernel = kernel
            w.withUnsafeBufferPointer { m.fill(from: $0.baseAddress!) }
            var got = beta == 0 ? [Float](repeating: .nan, count: rows * outDim) : out0
            x.withUnsafeBufferPointer { xp in
                got.withUnsafeMutableBufferPointer { m.linear(x: xp.baseAddress!, lda: lda, out: $0.baseAddress!, rows: rows, beta: beta) }
            }
            results.append(got)
        }
        for (kernel, result) in zip(Q8MatrixTests.kernelsHere, results).dropFirst() {
            XCTAssertEqual(result, results[0], "the \(kernel) kernel and plain C differ", file: file, line: line)
        }
        let got = results[0]
        let blocks = (inDim + 31) / 32
        func block(_ b: Int) -> Range<Int> { (32 * b)..<min(inDim, 32 * b + 32) }
        let wRange = (0..<outDim * blocks).map { i -> Double in
            let ws = block(i % blocks).map { w[i / blocks * inDim + $0] }
            return Double(ws.max()! - ws.min()!)
        }
        let xMax = (0..<rows * blocks).map { i in Double(block(i % blocks).map { abs(x[i / blocks * lda + $0]) }.max()!) }
        for r in 0..<rows {
            for n in 0..<outDim {
                var ref = Double(beta) * Double(out0[r * outDim + n]), bound = 1e-6 * abs(ref) + 1e-6
                for k in 0..<inDim {
                    let xv = Double(x[r * lda + k]), wv = Double(w[n * inDim + k])
                    let step = wRange[n * blocks + k / 32] / 510, xStep = xMax[r * blocks + k / 32] / 32766
                    ref += xv * wv
                    bound += abs(xv) * step + (abs(wv) + step) * xStep + 1e-6 * abs(xv * wv)
                }
                let g = Double(got[r * outDim + n])
                if !(abs(g - ref) <= bound) {
                    XCTFail("rows \(rows) out \(outDim) in \(inDim) lda \(lda) beta \(beta): [\(r), \(n)] = \(g), "
                            + "reference \(ref), bound \(bound)", file: file, line: line)
                    return
                }
            }
        }
    }

    func testDecodeShapes() throws {
        try check(rows: 16, outDim: 48, inDim: 96, lda: 96, beta: 0, seed: 1)      // a decode step, whole tiles
        try check(rows: 1, outDim: 16, inDim: 32, lda: 40, beta: 1, seed: 2)       // one row, one panel, one block
        try check(rows: 5, outDim: 37, inDim: 70, lda: 70, beta: 0, seed: 3)       // a partial everything
        try check(rows: 9, outDim: 50, inDim: 16, lda: 20, beta: 0.5, seed: 4)     // inDim below one block
        try check(rows: 3, outDim: 44, inDim: 64, lda: 64, beta: 0, seed: 6)       // a last panel of 12 features
    }

    func testPrefillShape() throws {
        try check(rows: 70, outDim: 33, inDim: 130, lda: 130, beta: 0, seed: 5)
    }

    /// Weights on a Q4_1 grid (d q + m, q in 0...15, both ends present in each block; even features) or a Q8_0
    /// grid (d q, q in -127...127 with 127 present and -127 not; odd features), and inputs on the 15-bit grid of
    /// their block (max |x| = 16383 * 2^-12): the integer sums are exact, so only fp32 rounding is left.
    func testQ41AndQ80WeightsAndGridInputsAreExact() throws {
        let rows = 4, outDim = 32, inDim = 64
        var rng = RNG(seed: 11)
        var w = [Float](repeating: 0, count: outDim * inDim), x = [Float](repeating: 0, count: rows * inDim)
        for n in 0..<outDim {
            for b in 0..<2 {
                let d = Float(rng.uniform() + 0.01) / 16, m = -Float(rng.uniform()) / 4
                for k in 0..<32 {
                    w[n * inDim + 32 * b + k] = n % 2 == 0 ? m + d * Float(k < 2 ? 15 * k : Int(rng.uniform() * 16) % 16)
                                                           : d / 8 * Float(k == 0 ? 127 : Int(rng.uniform() * 200) - 100)
                }
            }
        }
        for r in 0..<rows {
            for k in 0..<inDim {
                let v = k % 32 == 0 ? 16383 : Int(rng.uniform() * 32767) - 16383
                x[r * inDim + k] = Float(v) * 0x1p-12
            }
        }
        let m = try Q8Matrix(outDim: outDim, inDim: inDim)
        w.withUnsafeBufferPointer { m.fill(from: $0.baseAddress!) }
        var got = [Float](repeating: 0, count: rows * outDim)
        x.withUnsafeBufferPointer { xp in
            got.withUnsafeMutableBufferPointer { m.linear(x: xp.baseAddress!, lda: inDim, out: $0.baseAddress!, rows: rows, beta: 0) }
        }
        for r in 0..<rows {
            for n in 0..<outDim {
                var ref = 0.0, scale = 0.0
                for k in 0..<inDim { ref += Double(x[r * inDim + k]) * Double(w[n * inDim + k]); scale += abs(Double(x[r * inDim + k] * w[n * inDim + k])) }
                XCTAssertEqual(Double(got[r * outDim + n]), ref, accuracy: 2e-6 * scale, "[\(r), \(n)]")
            }
        }
    }

    func testRejectsEmptyShapes() {
        XCTAssertThrowsError(try Q8Matrix(outDim: 0, inDim: 4))
        XCTAssertThrowsError(try Q8Matrix(outDim: 4, inDim: 0))
    }
}
