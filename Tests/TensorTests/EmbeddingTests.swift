import XCTest
@testable import Tensor

final class EmbeddingTests: XCTestCase {
    func testGradientWithRepeatedIds() throws {
        let table = randomTensor([5, 3], seed: 1)
        try assertGradients([table]) { try embedding($0[0], ids: [4, 0, 4, 2, 4]) }
    }

    func testValuesAndScatterAdd() throws {
        let table = try Tensor(shape: [3, 2], [0, 1, 10, 11, 20, 21], requiresGrad: true)
        let y = try embedding(table, ids: [2, 0, 2])
        XCTAssertEqual(y.shape, [3, 2])
        XCTAssertEqual(y.array, [20, 21, 0, 1, 20, 21])
        try y.backward(seed: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(table.gradArray, [3, 4, 0, 0, 6, 8])   // row 2 gets rows 0 and 2 of the seed
    }

    func testBadInputThrows() {
        XCTAssertThrowsError(try embedding(Tensor(zeros: [3, 2]), ids: [0, 3])) { XCTAssertTrue("\($0)".contains("id 3")) }
        XCTAssertThrowsError(try embedding(Tensor(zeros: [3, 2]), ids: [-1]))
        XCTAssertThrowsError(try embedding(Tensor(zeros: [6]), ids: [0])) { XCTAssertTrue("\($0)".contains("[6]")) }
    }
}
