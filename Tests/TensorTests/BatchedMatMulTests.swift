import XCTest
@testable import Tensor

final class BatchedMatMulTests: XCTestCase {
    func testGradientsAllTransposeFlags() throws {
        for transA in [false, true] {
            for transB in [false, true] {
                let (bt, m, k, n) = (3, 2, 5, 4)
                let a = randomTensor(transA ? [bt, k, m] : [bt, m, k], seed: 1)
                let b = randomTensor(transB ? [bt, n, k] : [bt, k, n], seed: 2)
                try assertGradients([a, b]) { try bmm($0[0], $0[1], transA: transA, transB: transB) }
            }
        }
    }

    func testMatchesPerBatchMatmul() throws {
        let a = randomTensor([2, 3, 4], seed: 3), b = randomTensor([2, 5, 4], seed: 4)
        let c = try bmm(a, b, transB: true)
        for i in 0..<2 {
            let ai = try reshape(try sliceRows(a, i..<i + 1), [3, 4]), bi = try reshape(try sliceRows(b, i..<i + 1), [5, 4])
            XCTAssertEqual(Array(c.array[(i * 15)..<(i * 15 + 15)]), try matmul(ai, bi, transB: true).array)
        }
    }

    func testShapeMismatchThrows() {
        XCTAssertThrowsError(try bmm(Tensor(zeros: [2, 3, 4]), Tensor(zeros: [2, 3, 4]))) {
            XCTAssertTrue("\($0)".contains("bmm inner dimensions"))
        }
        XCTAssertThrowsError(try bmm(Tensor(zeros: [2, 3, 4]), Tensor(zeros: [3, 4, 4]))) { XCTAssertTrue("\($0)".contains("equal B")) }
    }
}
