import Foundation
import XCTest
import Training
@testable import Experiments

/// `doShare`: items done on disk are skipped, items another holder claimed are left to it, the rest run in order.
final class SharedWorkTests: XCTestCase {
    func testItemsAreSkippedWhenDoneOrClaimedAndRunOtherwise() async throws {
        let claims = FileManager.default.temporaryDirectory.appendingPathComponent("tir-claims-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: claims) }
        var ran: [String] = []
        var finishedMeanwhile = false   // "d" is finished by another process between the check and the claim
        var checksOfD = 0
        func item(_ name: String, done: @escaping () -> Bool = { false }) -> WorkItem {
            WorkItem(name: name, isDone: done, work: { ran.append(name) })
        }
        let items = [item("a"), item("b"), item("c", done: { true }),
                     item("d", done: { checksOfD += 1; return finishedMeanwhile || checksOfD > 1 }), item("e")]
        // Another holder's claim on "b" (flock locks of two open files conflict, even within one process).
        var other: RunLock? = try XCTUnwrap(try RunLock.attempt(claims.appendingPathComponent("b.lock")))
        XCTAssertNil(try RunLock.attempt(claims.appendingPathComponent("b.lock")))
        let share = try await doShare(of: items, claims: claims)
        XCTAssertEqual(ran, ["a", "e"])
        XCTAssertEqual(share, WorkShare(ran: 2, done: 2, others: 1))
        XCTAssertNotNil(other)
        other = nil
        finishedMeanwhile = true

        // Released claims (a finished or dead holder) can be taken again.
        ran = []
        let again = try await doShare(of: [item("a"), item("b")], claims: claims)
        XCTAssertEqual(ran, ["a", "b"])
        XCTAssertEqual(again.ran, 2)
    }
}
