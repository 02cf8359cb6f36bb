import Foundation
import XCTest
@testable import Sandbox

/// Failures of the sandbox itself are reported as `.sandboxFailure`, never as the snippet's error, and a run
/// of them stops the caller with a message it can act on.
final class SandboxFailureTests: XCTestCase {
    func testGuardThrowsAfterLimitFailuresInARow() throws {
        let guard_ = try SandboxFailureGuard(limit: 3)
        let bad = SandboxResult.failure("the worker died while running the snippet")
        let snippetError = SandboxResult(status: .error, exitCode: 1, stderr: "ValueError\n")
        try guard_.record([bad, bad, snippetError, .init(status: .timeout), bad, bad])   // a snippet's error resets
        XCTAssertEqual(guard_.consecutiveFailures, 2)
        XCTAssertThrowsError(try guard_.record([bad])) { e in
            guard case SandboxError.repeatedFailures(let n, let last) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(n, 3)
            XCTAssertTrue(last.contains("worker died"))
            XCTAssertTrue("\(e)".contains("failed 3 times in a row") && "\(e)".contains("none of which was shown"), "\(e)")
        }
        XCTAssertEqual(guard_.totalFailures, 5)
        XCTAssertThrowsError(try SandboxFailureGuard(limit: 0))
    }

    func testGuardStopsAPoolThatCannotStartWorkers() throws {
        let pool = try SandboxPool(workers: 1)
        pool.shutdown()   // from here on every snippet is a sandbox failure
        let guard_ = try SandboxFailureGuard(limit: 4)
        let results = pool.runBlocking(batch: Array(repeating: "print(1)", count: 4))
        XCTAssertEqual(results.map(\.status), Array(repeating: .sandboxFailure, count: 4))
        XCTAssertThrowsError(try guard_.record(results))
    }

    /// The snippet that met a dead worker runs again on its replacement: the caller sees its real result.
    func testRetryingHidesASingleSandboxFailure() async throws {
        let before = childPids()
        let pool = try SandboxPool(workers: 1, maxConsecutiveFailures: 3)
        defer { pool.shutdown() }
        let worker = try XCTUnwrap(childPids().subtracting(before).first)
        let tree = processTree(of: worker)
        kill(worker, SIGKILL)
        waitUntilGone(tree)
        let results = try await pool.runRetryingSandboxFailures(batch: ["print(2)", "print(3)"])
        XCTAssertEqual(results.map(\.stdout), ["2\n", "3\n"])
        XCTAssertEqual(pool.failureGuard.totalFailures, 1)
        XCTAssertEqual(pool.failureGuard.consecutiveFailures, 0)
    }

    /// A sandbox that keeps failing stops the caller after the limit, with the guard's message.
    func testRetryingGivesUpAfterTheLimit() async throws {
        let pool = try SandboxPool(workers: 1, maxConsecutiveFailures: 3)
        pool.shutdown()
        do {
            _ = try await pool.runRetryingSandboxFailures(batch: ["print(1)"])
            XCTFail("a pool that cannot run anything must throw")
        } catch SandboxError.repeatedFailures(let n, _) {
            XCTAssertEqual(n, 3)
        }
    }

    /// A child that cannot be set up before the snippet runs is the sandbox's failure, not exit code 125.
    /// Provoked with limits validate() refuses: a file limit above the fork-server's own hard limit.
    func testChildSetUpFailureIsASandboxFailure() throws {
        var l = SandboxLimits()
        l.maxOpenFiles = 1000
        XCTAssertThrowsError(try l.validate())
        let worker = try SandboxWorker.start(limits: l)
        defer { worker.stop() }
        let r = worker.run(Array("print(1)".utf8), limits: l)
        XCTAssertEqual(r.status, .sandboxFailure)
        XCTAssertTrue(r.stderr.contains("could not be set up") && r.stderr.contains("ValueError"), r.stderr)
        XCTAssertEqual(r.stdout, "")
        XCTAssertFalse(worker.healthy, "a worker that failed to set a child up is replaced")
    }

    func testASnippetCannotFakeASetUpFailure() {
        let r = run("import os\nos._exit(125)")
        XCTAssertEqual(r.status, .error)
        XCTAssertEqual(r.exitCode, 125)
        assertPoolHealthy()
    }
}
