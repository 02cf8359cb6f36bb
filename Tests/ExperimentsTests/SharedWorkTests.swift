import Foundation
import XCTest
import Training
@testable import Experiments

/// `doShare`: items done on disk are skipped, items another holder claimed are left to it, the rest run in
/// order while their claim is held; `requireDone` names what is left.
final class SharedWorkTests: XCTestCase {
    struct Failure: Error {}

    func testItemsAreSkippedWhenDoneOrClaimedAndRunOtherwise() async throws {
        let claims = FileManager.default.temporaryDirectory.appendingPathComponent("tir-claims-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: claims) }
        var ran: [String] = [], heldWhileRunning: [Bool] = []
        var checksOfD = 0   // "d" is finished by another process between the check and the claim
        func item(_ name: String, done: @escaping () -> Bool = { false }) -> WorkItem {
            WorkItem(name: name, isDone: done) {
                heldWhileRunning.append((try? RunLock.attempt(claims.appendingPathComponent(name + ".lock"))).flatMap { $0 } == nil)
                ran.append(name)
            }
        }
        let items = [item("a"), item("b"), item("c", done: { true }), item("d", done: { checksOfD += 1; return checksOfD > 1 }), item("e")]
        // Another holder's claim on "b" (flock locks of two open files conflict, even within one process).
        var other = try RunLock.attempt(claims.appendingPathComponent("b.lock"))
        XCTAssertNotNil(other)
        let share = try await doShare(of: items, claims: claims)
        XCTAssertEqual(ran, ["a", "e"])
        XCTAssertEqual(heldWhileRunning, [true, true], "an item's claim is held while it runs")
        XCTAssertEqual(share, WorkShare(ran: 2, done: 2, others: 1))
        XCTAssertThrowsError(try requireDone(items, claims: claims)) { error in
            XCTAssertTrue("\(error)".contains("were not finished (a, b, e)"), "\(error)")
        }
        other = nil

        // Released claims (a finished, failed or dead holder) can be taken again.
        ran = []
        let failing = WorkItem(name: "f", isDone: { false }) { throw Failure() }
        do { _ = try await doShare(of: [failing], claims: claims); XCTFail("the work's error must reach the caller") } catch is Failure {}
        let again = try await doShare(of: [item("a"), item("b"), item("f")], claims: claims)
        XCTAssertEqual(ran, ["a", "b", "f"])
        XCTAssertEqual(again.ran, 3)
        XCTAssertNoThrow(try requireDone([item("c", done: { true })], claims: claims))
    }
}
