import XCTest
@testable import GRPO

final class AdvantageTests: XCTestCase {
    // Three groups of 4: [1, 0, 0, 0], all equal, [0.5, -1, 3, 1].
    let rewards: [Float] = [1, 0, 0, 0, 2, 2, 2, 2, 0.5, -1, 3, 1]

    func expect(_ got: [Float], _ want: [Double], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, file: file, line: line)
        for (g, w) in zip(got, want) { assertClose(Double(g), w, rel: 1e-6, "advantage", file: file, line: line) }
    }

    func testGRPO() throws {
        let a = try groupAdvantages(rewards: rewards, groupSize: 4, estimator: .grpo)
        // group 0: mean 0.25, unbiased var (0.75^2 + 3 * 0.25^2) / 3 = 0.25, std 0.5
        let s0 = 0.5 + 1e-6
        // group 2: mean 0.875; deviations -0.375, -1.875, 2.125, 0.125; var = 8.1875 / 3
        let s2 = (((0.375 * 0.375) + 1.875 * 1.875 + 2.125 * 2.125 + 0.125 * 0.125) / 3).squareRoot() + 1e-6
        expect(a, [0.75 / s0, -0.25 / s0, -0.25 / s0, -0.25 / s0,
                   0, 0, 0, 0,
                   -0.375 / s2, -1.875 / s2, 2.125 / s2, 0.125 / s2])
        XCTAssert(a[4..<8].allSatisfy { $0 == 0 }, "a zero-std group must give exactly 0")
    }

    func testDrGRPO() throws {
        let a = try groupAdvantages(rewards: rewards, groupSize: 4, estimator: .drGRPO)
        expect(a, [0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0, -0.375, -1.875, 2.125, 0.125])
        XCTAssert(a[4..<8].allSatisfy { $0 == 0 })
        // groups of one are allowed without std: advantage 0
        XCTAssertEqual(try groupAdvantages(rewards: [3, -1], groupSize: 1, estimator: .drGRPO), [0, 0])
    }

    func testRLOO() throws {
        let a = try groupAdvantages(rewards: rewards, groupSize: 4, estimator: .rloo)
        // R_i - mean of the other three
        expect(a, [1 - 0, 0 - 1.0 / 3, 0 - 1.0 / 3, 0 - 1.0 / 3,
                   0, 0, 0, 0,
                   0.5 - (-1 + 3 + 1) / 3.0, -1 - (0.5 + 3 + 1) / 3.0, 3 - (0.5 - 1 + 1) / 3.0, 1 - (0.5 - 1 + 3) / 3.0])
        XCTAssert(a[4..<8].allSatisfy { $0 == 0 })
        // verl's form R * n/(n-1) - mean * n/(n-1) is the same thing
        for i in 8..<12 {
            let mean = 0.875
            assertClose(Double(a[i]), Double(rewards[i]) * 4 / 3 - mean * 4 / 3, rel: 1e-6, "verl rloo")
        }
    }

    func testBadSizesThrow() {
        for e in AdvantageEstimator.allCases {
            XCTAssertThrowsError(try groupAdvantages(rewards: rewards, groupSize: 5, estimator: e), "\(e)")
            XCTAssertThrowsError(try groupAdvantages(rewards: rewards, groupSize: 0, estimator: e), "\(e)")
            XCTAssertThrowsError(try groupAdvantages(rewards: [1, .nan], groupSize: 2, estimator: e), "\(e)")
        }
        XCTAssertThrowsError(try groupAdvantages(rewards: [1, 2], groupSize: 1, estimator: .grpo))
        XCTAssertThrowsError(try groupAdvantages(rewards: [1, 2], groupSize: 1, estimator: .rloo))
        XCTAssertEqual(try groupAdvantages(rewards: [], groupSize: 4, estimator: .grpo), [])
        XCTAssertThrowsError(try zeroSignalGroups(rewards: rewards, groupSize: 5))
    }

    func testZeroSignalGroups() throws {
        XCTAssertEqual(try zeroSignalGroups(rewards: rewards, groupSize: 4), [false, true, false])
        XCTAssertEqual(try zeroSignalGroups(rewards: [1, 1, -1, -1, 0, 1], groupSize: 2), [true, true, false])
    }
}
