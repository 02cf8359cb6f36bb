import Foundation
import XCTest
@testable import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// The pool's API, statuses, limits and life cycle.
final class PoolTests: XCTestCase {

    func testAsyncRunAndBatchKeepOrder() async throws {
        let pool = try SandboxPool(workers: 2)
        defer { pool.shutdown() }
        let one = await pool.run("print(4817 * 362 - 95)")
        XCTAssertEqual(one.status, .ok)
        XCTAssertEqual(one.exitCode, 0)
        XCTAssertNil(one.signal)
        XCTAssertEqual(one.stdout, "1743659\n")
        XCTAssertGreaterThan(one.wallSeconds, 0)
        let codes = (0..<24).map { i in i % 5 == 3 ? "raise ValueError(\(i))" : "import time; time.sleep(0.00\(i % 3)); print(\(i) ** 2)" }
        let results = await pool.run(batch: codes)
        XCTAssertEqual(results.count, codes.count)
        for (i, r) in results.enumerated() {
            if i % 5 == 3 {
                XCTAssertEqual(r.status, .error)
                XCTAssertTrue(r.stderr.hasSuffix("ValueError: \(i)\n"), r.stderr)
            } else {
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.stdout, "\(i * i)\n")
            }
        }
    }

    func testConcurrentCallersFromManyTasks() async throws {
        let pool = try SandboxPool(workers: 2)
        defer { pool.shutdown() }
        let outs = await withTaskGroup(of: (Int, String).self) { g in
            for i in 0..<16 { g.addTask { (i, await pool.run("print(\(i) + 1)").stdout) } }
            var d = [Int: String]()
            for await (i, s) in g { d[i] = s }
            return d
        }
        for i in 0..<16 { XCTAssertEqual(outs[i], "\(i + 1)\n") }
    }

    func testHeadMarkerTailTruncation() throws {
        var l = SandboxLimits()
        l.outputCapBytes = 100
        let pool = try SandboxPool(workers: 1, limits: l)
        defer { pool.shutdown() }
        let r = pool.runBlocking("import sys\nsys.stdout.write('a' * 60 + 'b' * 1000 + 'c' * 60)\nsys.stderr.write('e' * 100)")
        XCTAssertEqual(r.status, .ok)
        XCTAssertTrue(r.stdoutTruncated)
        XCTAssertEqual(r.stdout, String(repeating: "a", count: 50) + "\n...[1020 bytes truncated]...\n"
                       + String(repeating: "c", count: 50))
        XCTAssertFalse(r.stderrTruncated, "exactly the cap is not truncated")
        XCTAssertEqual(r.stderr, String(repeating: "e", count: 100))
        // A multi-byte character cut by the cap becomes U+FFFD, never invalid UTF-8.
        let r2 = pool.runBlocking("print('é' * 500)")
        XCTAssertTrue(r2.stdoutTruncated)
        XCTAssertTrue(r2.stdout.hasPrefix(String(repeating: "é", count: 25)))
        XCTAssertTrue(r2.stdout.contains("bytes truncated]..."))
    }

    func testCpuLimitReportsTimeout() throws {
        var l = SandboxLimits()
        l.cpuSeconds = 1
        l.timeout = 5
        let pool = try SandboxPool(workers: 1, limits: l)
        defer { pool.shutdown() }
        let r = pool.runBlocking("while True: pass")
        XCTAssertEqual(r.status, .timeout)
        XCTAssertEqual(r.signal, SIGXCPU)
        XCTAssertGreaterThanOrEqual(r.cpuSeconds, 0.5)
        XCTAssertLessThan(r.wallSeconds, 2.5, "stopped by the CPU limit, not the 5 s clock")
    }

    func testWorkersAreRecycledAfterNSnippets() throws {
        var l = SandboxLimits()
        l.snippetsPerWorker = 3
        let pool = try SandboxPool(workers: 1, limits: l)
        defer { pool.shutdown() }
        XCTAssertEqual(pool.workersStarted, 1)
        var servers = Set<String>()
        for i in 0..<7 {
            let r = pool.runBlocking("import os\nprint(\(i), os.stat('/proc/1').st_ctime_ns)")
            XCTAssertEqual(r.status, .ok, r.stderr)
            XCTAssertTrue(r.stdout.hasPrefix("\(i) "))
            servers.insert(String(r.stdout.split(separator: " ")[1]))
        }
        XCTAssertEqual(pool.workersStarted, 3)
        XCTAssertEqual(servers.count, 3, "each worker is a new sandbox")
    }

    func testKilledWorkerIsReplaced() throws {
        let before = childPids()
        let pool = try SandboxPool(workers: 1)
        defer { pool.shutdown() }
        let mine = childPids().subtracting(before)
        XCTAssertEqual(mine.count, 1)
        XCTAssertEqual(pool.runBlocking("print(1)").stdout, "1\n")
        let tree = processTree(of: mine.first!)
        kill(mine.first!, SIGKILL)   // the sandbox crashes from outside
        waitUntilGone(tree)          // its fork-server dies a moment later (parent-death signal)
        let r = pool.runBlocking("print(2)")
        XCTAssertEqual(r.status, .sandboxFailure, "the snippet that met the dead worker is reported, not lost")
        XCTAssertTrue(r.stderr.contains("sandbox failure"), r.stderr)
        XCTAssertEqual(pool.runBlocking("print(3)").stdout, "3\n")
        XCTAssertEqual(pool.workersStarted, 2)
    }

    func testShutdownLeavesNoProcessesAndRefusesWork() async throws {
        let before = childPids()
        let pool = try SandboxPool(workers: 2)
        XCTAssertEqual(childPids().subtracting(before).count, 2)
        XCTAssertEqual(pool.runBlocking("print('x')").stdout, "x\n")
        pool.shutdown()
        XCTAssertEqual(childPids().subtracting(before), [], "bwrap processes left after shutdown")
        let r = await pool.run("print(1)")
        XCTAssertEqual(r.status, .sandboxFailure)
        pool.shutdown()   // idempotent
    }

    func testDeinitShutsDown() throws {
        let before = childPids()
        do {
            let pool = try SandboxPool(workers: 1)
            XCTAssertEqual(pool.runBlocking("print(1)").stdout, "1\n")
        }
        XCTAssertEqual(childPids().subtracting(before), [])
    }

    func testRefusesWithoutIsolation() {
        var l = SandboxLimits()
        l.pythonPath = "/usr/bin/no-such-python3"
        XCTAssertThrowsError(try SandboxPool(workers: 1, limits: l)) { e in
            guard case SandboxError.isolationUnavailable(let why) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(why.contains("no-such-python3"), why)
        }
        l.pythonPath = "/root/.pyenv/shims/python3"
        XCTAssertThrowsError(try SandboxPool(workers: 1, limits: l)) { e in
            guard case SandboxError.invalidLimits(let why) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(why.contains("/usr"), why)
        }
        // An interpreter that starts but never says hello: bwrap is fine, the server is not.
        l.pythonPath = "/usr/bin/true"
        XCTAssertThrowsError(try SandboxPool(workers: 1, limits: l)) { e in
            XCTAssertTrue("\(e)".contains("refusing to run untrusted code"), "\(e)")
        }
    }

    func testInvalidLimitsAreRejected() {
        var l = SandboxLimits()
        l.timeout = 0
        XCTAssertThrowsError(try SandboxPool(workers: 1, limits: l))
        l = SandboxLimits()
        l.outputKillBytes = 10
        XCTAssertThrowsError(try SandboxPool(workers: 1, limits: l))
        XCTAssertThrowsError(try SandboxPool(workers: 0))
    }

    func testOversizedSnippetIsRefused() throws {
        var l = SandboxLimits()
        l.maxCodeBytes = 100
        let pool = try SandboxPool(workers: 1, limits: l)
        defer { pool.shutdown() }
        let r = pool.runBlocking("x = 1\n" + String(repeating: "#", count: 200))
        XCTAssertEqual(r.status, .error, "the snippet's own fault, not the sandbox's")
        XCTAssertNil(r.exitCode)
        XCTAssertTrue(r.stderr.contains("was not run") && r.stderr.contains("maxCodeBytes"), r.stderr)
        XCTAssertEqual(pool.runBlocking("print(5)").stdout, "5\n")
    }

    func testResultJSONRoundTrip() throws {
        let r = SandboxResult(status: .memoryLimit, exitCode: 1, stdout: "a\u{FFFD}", stderr: "MemoryError\n",
                              stdoutTruncated: true, wallSeconds: 0.25)
        let data = try JSONEncoder().encode(r)
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("\"status\":\"memoryLimit\""))
        XCTAssertEqual(try JSONDecoder().decode(SandboxResult.self, from: data), r)
    }

    func testSpawnClosesInheritedDescriptors() throws {
        // A pipe opened WITHOUT close-on-exec in the trainer must not reach bwrap or the fork-server.
        var leaky: [Int32] = [-1, -1]
        XCTAssertEqual(Glibc.pipe(&leaky), 0)
        defer { close(leaky[0]); close(leaky[1]) }
        let leakedTarget = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(leaky[0])")
        XCTAssertTrue(leakedTarget.hasPrefix("pipe:["))
        let pool = try SandboxPool(workers: 1)
        defer { pool.shutdown() }
        XCTAssertEqual(pool.runBlocking("print(1)").stdout, "1\n")
        var servers = 0
        for pid in hostPids(containing: "TIRQ") {   // outer bwrap processes and fork-servers of live pools
            let dir = "/proc/\(pid)/fd"
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            let targets = fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + $0) }
            XCTAssertFalse(targets.contains(leakedTarget), "process \(pid) inherited the trainer's pipe")
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
            if comm.hasPrefix("python") && !fds.isEmpty {
                servers += 1
                XCTAssertEqual(Set(fds), ["0", "1", "2"], "fork-server \(pid) holds \(targets)")
            }
        }
        XCTAssertGreaterThan(servers, 0)
    }
}
