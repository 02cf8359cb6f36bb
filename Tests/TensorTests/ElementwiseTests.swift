import XCTest
@testable import Tensor

final class ElementwiseTests: XCTestCase {
    func testBinaryOpGradients() throws {
        for shape in [[3, 5], [1, 1], [7]] {
            let a = randomTensor(shape, seed: 1), b = randomTensor(shape, seed: 2)
            try assertGradients([a, b]) { try add($0[0], $0[1]) }
            try assertGradients([a, b]) { try mul($0[0], $0[1]) }
        }
    }

    func testSameTensorTwiceAccumulates() throws {
        let a = randomTensor([2, 3], seed: 3)
        try assertGradients([a]) { try mul($0[0], $0[0]) }   // d(a*a) = 2a through both inputs
        try assertGradients([a]) { try add($0[0], $0[0]) }
    }

    func testUnaryOpGradients() throws {
        let x = randomTensor([4, 9], seed: 4)   // 36 elements: SIMD body and a scalar tail
        try assertGradients([x]) { scale($0[0], -2.5) }
        try assertGradients([x]) { exp($0[0]) }
        try assertGradients([x]) { silu($0[0]) }
        let big = scale(randomTensor([3, 3], seed: 5), 4)   // silu away from 0, both signs
        try assertGradients([big]) { silu($0[0]) }
    }

    func testSwigluGradients() throws {
        let g = scale(randomTensor([3, 11], seed: 6), 3), u = randomTensor([3, 11], seed: 7)
        try assertGradients([g, u]) { try swiglu(gate: $0[0], up: $0[1]) }
    }

    func testValues() throws {
        let x = try Tensor(shape: [10], [-90, -20, -3, -0.5, 0, 0.25, 1, 5, 20, 80])
        let e = exp(x).array, s = silu(x).array
        for i in 0..<10 {
            let v = Double(x.data[i])
            XCTAssertEqual(Double(e[i]), Foundation.exp(v), accuracy: 3e-7 * max(Foundation.exp(v), 1e-30))
            XCTAssertEqual(Double(s[i]), v / (1 + Foundation.exp(-v)), accuracy: 1e-6 * max(1, abs(v)))
        }
        let u = try Tensor(shape: [10], [Float](repeating: 2, count: 10))
        XCTAssertEqual(try swiglu(gate: x, up: u).array, s.map { 2 * $0 })
        XCTAssertEqual(try add(x, u).array, x.array.map { $0 + 2 })
        XCTAssertEqual(try mul(x, u).array, x.array.map { $0 * 2 })
        XCTAssertEqual(scale(x, 0.5).array, x.array.map { $0 * 0.5 })
    }

    func testShapeMismatchThrows() {
        let a = Tensor(zeros: [2, 3]), b = Tensor(zeros: [3, 2])
        XCTAssertThrowsError(try add(a, b)) { XCTAssertTrue("\($0)".contains("add") && "\($0)".contains("[3, 2]")) }
        XCTAssertThrowsError(try mul(a, b)) { XCTAssertTrue("\($0)".contains("mul")) }
        XCTAssertThrowsError(try swiglu(gate: a, up: b)) { XCTAssertTrue("\($0)".contains("swiglu")) }
    }
}
