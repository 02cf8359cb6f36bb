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
