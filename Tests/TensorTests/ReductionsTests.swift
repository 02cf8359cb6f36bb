import XCTest
@testable import Tensor

final class ReductionsTests: XCTestCase {
    func testGradients() throws {
        let x = randomTensor([3, 5], seed: 1)
        let mask: [Float] = [1, 0, 1, 0.5, 1, 0, 0, 1, 1, 1, 0, 2, 1, 0, 1]
        try assertGradients([x]) { sum($0[0]) }
        try assertGradients([x]) { mean($0[0]) }
        try assertGradients([x]) { try maskedSum($0[0], mask: mask) }
        try assertGradients([x]) { try maskedMean($0[0], mask: mask) }
    }

    func testValues() throws {
        let x = try Tensor(shape: [2, 2], [1, 2, 3, 4])
        XCTAssertEqual(sum(x).item(), 10)
        XCTAssertEqual(sum(x).shape, [])
        XCTAssertEqual(mean(x).item(), 2.5)
        XCTAssertEqual(try maskedSum(x, mask: [1, 0, 0, 2]).item(), 9)
        XCTAssertEqual(try maskedMean(x, mask: [1, 0, 0, 2]).item(), 3)
        XCTAssertEqual(try maskedMean(x, mask: [0, 0, 0, 0]).item(), 0)
        x.requiresGrad = true
        try maskedMean(x, mask: [0, 0, 0, 0]).backward()
        XCTAssertEqual(x.gradArray, [0, 0, 0, 0])
    }

    func testMaskSizeMismatchThrows() {
        XCTAssertThrowsError(try maskedSum(Tensor(zeros: [2, 2]), mask: [1, 1])) {
            XCTAssertTrue("\($0)".contains("maskedSum") && "\($0)".contains("[2, 2]"))
        }
        XCTAssertThrowsError(try maskedMean(Tensor(zeros: [3]), mask: [1])) { XCTAssertTrue("\($0)".contains("maskedMean")) }
    }
}
