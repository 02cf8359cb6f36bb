import XCTest
@testable import Tensor

final class ShapeTests: XCTestCase {
    func testGradients() throws {
        let x = randomTensor([4, 3], seed: 1), y = randomTensor([1, 3], seed: 2)
        try assertGradients([x]) { try reshape($0[0], [2, 6]) }
        try assertGradients([x]) { try sliceRows($0[0], 1..<3) }
        try assertGradients([x, y]) { try concatRows([$0[0], $0[1], $0[0]]) }
    }

    func testValues() throws {
        let x = try Tensor(shape: [3, 2], [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try reshape(x, [6]).shape, [6])
        XCTAssertEqual(try sliceRows(x, 2..<3).array, [5, 6])
        XCTAssertEqual(try sliceRows(x, 1..<1).shape, [0, 2])
        let c = try concatRows([x, try sliceRows(x, 0..<1)])
        XCTAssertEqual(c.shape, [4, 2])
        XCTAssertEqual(c.array, [1, 2, 3, 4, 5, 6, 1, 2])
    }

    func testBadShapesThrow() {
        XCTAssertThrowsError(try reshape(Tensor(zeros: [2, 3]), [4])) { XCTAssertTrue("\($0)".contains("reshape")) }
        XCTAssertThrowsError(try sliceRows(Tensor(zeros: [2, 3]), 1..<3)) { XCTAssertTrue("\($0)".contains("sliceRows")) }
        XCTAssertThrowsError(try concatRows([Tensor(zeros: [2, 3]), Tensor(zeros: [2, 4])])) {
            XCTAssertTrue("\($0)".contains("concatRows") && "\($0)".contains("[2, 4]"))
        }
        XCTAssertThrowsError(try concatRows([]))
    }
}
