import Foundation
import XCTest
@testable import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// Pools shared by the test classes (start-up is ~50 ms per worker; the suite must stay fast).
enum TestPools {
    static let secretName = "TIR_TEST_FAKE_SECRET"
    static let secretValue = "hunter2-\(UInt64.random(in: 0..<UInt64.max))"

    /// One worker, so "the next snippet" provably runs in the same sandbox; 1 s timeout for the loop tests.
    static let serial: SandboxPool = {
        setenv(secretName, secretValue, 1)   // must never reach a snippet
        var l = SandboxLimits()
        l.timeout = 1
        l.outputCapBytes = 4096
        l.outputKillBytes = 1 << 20
        return try! SandboxPool(workers: 1, limits: l)
    }()
}

extension XCTestCase {
    func run(_ code: String, _ pool: SandboxPool = TestPools.serial,
             file: StaticString = #filePath, line: UInt = #line) -> SandboxResult {
        let r = pool.runBlocking(code)
        XCTAssertNotEqual(r.status, .sandboxFailure, "sandbox failed: \(r.stderr)", file: file, line: line)
        return r
    }

    /// The pool still runs a normal snippet correctly, and that sandbox holds no leftover process:
    /// /proc of its PID namespace shows only the fork-server (PID 1) and the checking snippet itself.
    func assertPoolHealthy(_ pool: SandboxPool = TestPools.serial, file: StaticString = #filePath, line: UInt = #line) {
        let r = pool.runBlocking("""
            import os
            pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
            print(6 * 7, pids == sorted([1, os.getpid()]), os.listdir('/tmp') == [os.path.basename(os.getcwd())])
            """)
        XCTAssertEqual(r.status, .ok, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stdout, "42 True True\n", "stray process or file in the sandbox", file: file, line: line)
    }

    /// Command lines of all processes on the host that contain `needle`.
    func hostProcesses(containing needle: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
            guard let d = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let cmd = String(decoding: d.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return cmd.contains(needle) ? cmd : nil
        }
    }

    /// Pids of the host processes whose command line contains `needle`.
    func hostPids(containing needle: String) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
            guard let d = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: d, as: UTF8.self).contains(needle) else { return nil }
            return Int32(pid)
        }
    }

    /// Real uids (on the host) of the processes whose command line contains `needle`.
    func hostUids(containing needle: String) -> [Int] {
        let parent = parentPids()
        func ours(_ pid: Int32) -> Bool {   // a descendant of this test process (not another run's pool)
            var p = pid
            while let up = parent[p], up > 1 { if up == getpid() { return true }; p = up }
            return false
        }
        return parent.keys.filter(ours).compactMap { pid in
            guard let d = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: d, as: UTF8.self).contains(needle),
                  let st = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  let line = st.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
            return Int(line.split(separator: "\t")[1])
        }
    }

    /// `root` and every process below it.
    func processTree(of root: Int32) -> Set<Int32> {
        let parent = parentPids()
        var tree: Set<Int32> = [root], grew = true
        while grew {
            let more = parent.filter { tree.contains($0.value) }.keys
            grew = !Set(more).isSubset(of: tree)
            tree.formUnion(more)
        }
        return tree
    }

    /// Waits (up to 5 s) until none of `pids` runs any more (gone, or a zombie nobody has reaped yet).
    func waitUntilGone(_ pids: Set<Int32>) {
        let deadline = Date().addingTimeInterval(5)
        func running(_ pid: Int32) -> Bool {
            guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = s.lastIndex(of: ")") else { return false }
            return s[s.index(after: close)...].split(separator: " ").first != "Z"
        }
        while pids.contains(where: running), Date() < deadline { usleep(5_000) }
    }

    /// pid -> parent pid of every process on the host.
    func parentPids() -> [Int32: Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var out = [Int32: Int32]()
        for pid in names where pid.allSatisfy(\.isNumber) {
            guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = s.lastIndex(of: ")") else { continue }
            let fields = s[s.index(after: close)...].split(separator: " ")
            if fields.count > 1, let pp = Int32(fields[1]), let p = Int32(pid) { out[p] = pp }
        }
        return out
    }

    /// Pids of our own child processes (the bwrap/setpriv of every live pool in this test process).
    func childPids() -> Set<Int32> {
        Set(parentPids().filter { $0.value == getpid() }.keys)
    }
}

/// A TCP listener on the host's 127.0.0.1 (an ephemeral port), non-blocking.
final class HostListener {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
                bind(fd, sp, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, sp, &len) == 0
            }
        }
        guard ok else { close(fd); throw NSError(domain: "HostListener", code: Int(errno)) }
        self.fd = fd
        port = UInt16(bigEndian: addr.sin_port)
    }

    /// True if anybody connected since the listener opened.
    var gotConnection: Bool {
        let c = accept(fd, nil, nil)
        if c >= 0 { close(c); return true }
        return false
    }

    deinit { close(fd) }
}
