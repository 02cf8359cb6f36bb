import XCTest
@testable import Tensor

final class RMSNormTests: XCTestCase {
    func testGradients() throws {
        for (n, d) in [(3, 5), (1, 1), (2, 19)] {
            let x = randomTensor([n, d], seed: UInt64(d)), w = randomTensor([d], seed: 9)
            try assertGradients([x, w]) { try rmsNorm($0[0], weight: $0[1]) }
        }
    }

    func testValues() throws {
        let x = try Tensor(shape: [2, 2], [3, 4, 0, 0]), w = try Tensor(shape: [2], [1, 2])
        let y = try rmsNorm(x, weight: w, eps: 0).array
        let r = 1 / (12.5 as Float).squareRoot()   // mean(9, 16) = 12.5
        XCTAssertEqual(y[0], 3 * r, accuracy: 1e-6)
        XCTAssertEqual(y[1], 8 * r, accuracy: 1e-6)
        XCTAssertEqual(Array(try rmsNorm(x, weight: w).array[2...]), [0, 0])   // eps keeps a zero row finite
    }

    func testAddRMSNormMatchesUnfused() throws {
        let x = randomTensor([3, 10], seed: 1), res = randomTensor([3, 10], seed: 2), w = randomTensor([10], seed: 3)
        let (s, y) = try addRMSNorm(x, res, weight: w)
        let s2 = try add(x, res)
        XCTAssertEqual(s.array, s2.array)
        XCTAssertEqual(y.array, try rmsNorm(s2, weight: w).array)
    }

    func testAddRMSNormGradientsFromBothOutputs() throws {
        let x = randomTensor([3, 7], seed: 4), res = randomTensor([3, 7], seed: 5), w = randomTensor([7], seed: 6)
        try assertGradients([x, res, w]) {
            let (s, y) = try addRMSNorm($0[0], $0[1], weight: $0[2])
            return try concatRows([s, y])
        }
        // Only the normed output used.
        try assertGradients([x, res, w]) { try addRMSNorm($0[0], $0[1], weight: $0[2]).normed }
    }

    func testShapeMismatchThrows() {
        XCTAssertThrowsError(try rmsNorm(Tensor(zeros: [2, 3]), weight: Tensor(zeros: [2]))) {
            XCTAssertTrue("\($0)".contains("rmsNorm") && "\($0)".contains("[2, 3]"))
        }
        XCTAssertThrowsError(try addRMSNorm(Tensor(zeros: [2, 3]), Tensor(zeros: [3, 3]), weight: Tensor(zeros: [3]))) {
            XCTAssertTrue("\($0)".contains("addRMSNorm"))
        }
    }
}
