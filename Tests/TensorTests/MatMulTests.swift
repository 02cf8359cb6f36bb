import XCTest
@testable import Tensor

final class MatMulTests: XCTestCase {
    func testMatmulGradientsAllTransposeFlags() throws {
        for transA in [false, true] {
            for transB in [false, true] {
                let (m, k, n) = (3, 5, 2)
                let a = randomTensor(transA ? [k, m] : [m, k], seed: 1)
                let b = randomTensor(transB ? [n, k] : [k, n], seed: 2)
                try assertGradients([a, b]) { try matmul($0[0], $0[1], transA: transA, transB: transB) }
            }
        }
    }

    func testMatmulValues() throws {
        let a = try Tensor(shape: [2, 3], [1, 2, 3, 4, 5, 6])
        let b = try Tensor(shape: [3, 1], [1, 0, -1])
        XCTAssertEqual(try matmul(a, b).array, [-2, -2])
        XCTAssertEqual(try linear(a, try Tensor(shape: [1, 3], [1, 0, -1])).array, [-2, -2])
    }

    func testMatmulShapeMismatchThrows() {
        XCTAssertThrowsError(try matmul(Tensor(zeros: [2, 3]), Tensor(zeros: [2, 3]))) { e in
            XCTAssertTrue("\(e)".contains("inner dimensions"))
        }
    }

    func testGatherLogProbsGradient() throws {
        let x = randomTensor([4, 7], seed: 3)
        try assertGradients([x]) { try gatherLogProbs($0[0], targets: [0, 6, 3, 3]) }
        let one = randomTensor([1, 1], seed: 4)
        XCTAssertEqual(try gatherLogProbs(one, targets: [0]).item(), 0, accuracy: 1e-6)
    }

    /// Both losses on the same logits: the second backward accumulates into the first's gradient (beta 1),
    /// and a row with zero upstream gradient contributes nothing.
    func testLogProbLossesAccumulateOnSharedLogits() throws {
        let x = randomTensor([4, 7], seed: 5)
        try assertGradients([x]) { t in
            let lp = try gatherLogProbs(t[0], targets: [1, 2, 6, 0])
            let ce = try crossEntropy(t[0], targets: [3, 3, 0, 5], mask: [1, 0, 2, 1])
            return try add(sum(lp), ce)
        }
    }
}
