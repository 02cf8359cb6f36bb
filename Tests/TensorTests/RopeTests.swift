import XCTest
@testable import Tensor

final class RopeTests: XCTestCase {
    func testGradients() throws {
        // heads=2, hd=4 -> D=8, qkv [3, 24]; and the edge hd=2 with one head.
        let qkv = randomTensor([3, 24], seed: 1)
        try assertGradients([qkv]) { try ropeQK($0[0], positions: [0, 5, 2], heads: 2) }
        let small = randomTensor([2, 6], seed: 2)
        try assertGradients([small]) { try ropeQK($0[0], positions: [7, 1], heads: 1, theta: 100) }
    }

    func testGroupedQueryGradientsAndLayout() throws {
        // H=4 query heads and KV=2 key heads of hd=4 rotate; the 2 value heads pass through.
        let qkv = randomTensor([3, (4 + 2 * 2) * 4], seed: 5)
        try assertGradients([qkv]) { try ropeQK($0[0], positions: [0, 5, 2], heads: 4, kvHeads: 2) }
        let y = try ropeQK(qkv, positions: [0, 5, 2], heads: 4, kvHeads: 2).array, x = qkv.array
        XCTAssertEqual(Array(y[(32 + 24)..<(32 + 32)]), Array(x[(32 + 24)..<(32 + 32)]))   // row 1's v unchanged
        XCTAssertNotEqual(Array(y[(32 + 16)..<(32 + 24)]), Array(x[(32 + 16)..<(32 + 24)])) // row 1's k rotated
    }

    func testLlama3ScalingMatchesTransformersFormula() throws {
        // transformers' _compute_llama3_parameters on theta 500000, hd 64, factor 8, low 1, high 4, original 8192.
        let s = RopeScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192)
        for i in [0, 10, 20, 24, 31] {
            let f = Foundation.pow(500000.0, -Double(2 * i) / 64), wavelen = 2 * Double.pi / f
            let expected: Double
            if wavelen < 8192 / 4 { expected = f } else if wavelen > 8192 / 1 { expected = f / 8 } else {
                let smooth = (8192 / wavelen - 1) / (4 - 1)
                expected = (1 - smooth) * f / 8 + smooth * f
            }
            let got = Kernels.ropeInvFreq(i, headDim: 64, theta: 500000, scaling: s)
            XCTAssertEqual(Double(got), expected, accuracy: expected * 1e-5, "pair \(i)")
        }
        XCTAssertEqual(Kernels.ropeInvFreq(0, headDim: 64, theta: 500000, scaling: s), 1)   // high frequency: kept
    }

    func testPositionZeroIsIdentity() throws {
        let qkv = randomTensor([2, 36], seed: 3)
        XCTAssertEqual(try ropeQK(qkv, positions: [0, 0], heads: 3).array, qkv.array)
    }

    func testValuesAgainstRotateHalfFormula() throws {
        let heads = 2, hd = 6, d = heads * hd, positions: [Int32] = [3, 11]
        let qkv = randomTensor([2, 3 * d], seed: 4)
        let y = try ropeQK(qkv, positions: positions, heads: heads, theta: 500).array
        let x = qkv.array, half = hd / 2
        for row in 0..<2 {
            for col in 0..<(3 * d) {
                let r = row * 3 * d
                var expected = Double(x[r + col])
                if col < 2 * d {   // q and k heads rotate, v passes through
                    let h = col / hd, i = col % hd, base = r + h * hd
                    let f = Foundation.pow(500.0, -Double(2 * (i % half)) / Double(hd))
                    let a = Double(positions[row]) * f
                    if i < half {
                        expected = Double(x[base + i]) * cos(a) - Double(x[base + i + half]) * sin(a)
                    } else {
                        expected = Double(x[base + i]) * cos(a) + Double(x[base + i - half]) * sin(a)
                    }
                }
                XCTAssertEqual(Double(y[row * 3 * d + col]), expected, accuracy: 2e-6, "row \(row) col \(col)")
            }
        }
    }

    func testDecodeKernelMatchesTableKernelAndInverse() throws {
        // The stack-table kernel used when decoding must agree with the op, on a q section with a row stride.
        let heads = 2, hd = 8, d = heads * hd, positions: [Int32] = [0, 300, 4095]
        let qkv = randomTensor([3, 3 * d], seed: 5)
        let y = try ropeQK(qkv, positions: positions, heads: heads)
        let buf = qkv.array.map { $0 }
        var raw = buf
        raw.withUnsafeMutableBufferPointer { p in
            positions.withUnsafeBufferPointer { pos in
                Kernels.ropeInPlace(x: p.baseAddress!, rowStride: 3 * d, rows: 3, heads: heads, headDim: hd,
                                    positions: pos.baseAddress!, theta: 10000)                       // q
                Kernels.ropeInPlace(x: p.baseAddress! + d, rowStride: 3 * d, rows: 3, heads: heads, headDim: hd,
                                    positions: pos.baseAddress!, theta: 10000)                       // k
            }
        }
        XCTAssertEqual(raw, y.array)
        raw.withUnsafeMutableBufferPointer { p in
            positions.withUnsafeBufferPointer { pos in
                Kernels.ropeInPlace(x: p.baseAddress!, rowStride: 3 * d, rows: 3, heads: 2 * heads, headDim: hd,
                                    positions: pos.baseAddress!, theta: 10000, inverse: true)
            }
        }
        for (a, b) in zip(raw, buf) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testBadInputThrows() {
        XCTAssertThrowsError(try ropeQK(Tensor(zeros: [2, 20]), positions: [0, 1], heads: 2)) {
            XCTAssertTrue("\($0)".contains("ropeQK") && "\($0)".contains("[2, 20]"))
        }
        XCTAssertThrowsError(try ropeQK(Tensor(zeros: [2, 9]), positions: [0, 1], heads: 1)) {   // hd = 3 is odd
            XCTAssertTrue("\($0)".contains("even"))
        }
        XCTAssertThrowsError(try ropeQK(Tensor(zeros: [2, 12]), positions: [0], heads: 1))
        XCTAssertThrowsError(try ropeQK(Tensor(zeros: [1, 12]), positions: [-1], heads: 1))
    }
}
