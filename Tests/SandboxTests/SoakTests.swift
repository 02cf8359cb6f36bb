import Foundation
import XCTest
@testable import Sandbox

final class SoakTests: XCTestCase {
    /// Two windows of the soak's mix: every snippet gets its expected outcome and nothing is left behind.
    /// (Two 50-snippet windows are too short to compare speeds on a shared machine: that check is off.)
    func testShortSoakLeavesNothingBehind() throws {
        var l = SandboxSoak.defaultLimits
        l.timeout = 0.5
        let soak = try SandboxSoak.run(executions: 100, window: 50, workers: 2, limits: l, minimumSpeedRatio: 0)
        XCTAssertEqual(soak.problems, [], soak.unexpected.joined(separator: "\n"))
        XCTAssertTrue(soak.passed)
        XCTAssertEqual(soak.statuses.values.reduce(0, +), 100)
        XCTAssertEqual(soak.statuses["timeout"], 4)
        XCTAssertEqual(soak.statuses["memoryLimit"], 2)
        XCTAssertNil(soak.statuses["sandboxFailure"])
        XCTAssertEqual(soak.leaked_processes, 0)
        XCTAssertEqual(soak.fds_after, soak.fds_before)
        XCTAssertGreaterThan(soak.processes_max_during, 0, "the probe sees the sandbox processes")
        XCTAssertThrowsError(try SandboxSoak.run(executions: 120, window: 50))
    }

    /// The full soak (10,000 executions, several minutes): TIR_SOAK=1 swift test --filter SoakTests
    func testFullSoak() throws {
        guard ProcessInfo.processInfo.environment["TIR_SOAK"] != nil else {
            throw XCTSkip("the full soak runs only with TIR_SOAK=1")
        }
        let soak = try SandboxSoak.run()
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try enc.encode(soak), as: UTF8.self))
        XCTAssertEqual(soak.problems, [])
    }
}
