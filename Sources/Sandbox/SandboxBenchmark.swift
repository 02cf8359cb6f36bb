import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Executions per second of a print(1)-sized snippet: the pool (sequential and concurrent) against the two
/// ways without a fork-server (plain `python3 -c`, and one cold bwrap + python3 per snippet), in one run.
public struct SandboxBenchmark: Codable, Sendable {
    public var sequential_per_s: Double
    public var concurrent_per_s: Double
    public var plain_python_per_s: Double
    public var cold_bwrap_per_s: Double
    public var concurrent_over_plain: Double
    public var workers: Int
    public var sequential_snippets: Int
    public var concurrent_snippets: Int
    public var failures: Int
    public var python: String
    public var preloaded: [String]
    public var isolation: [String]

    public static func run(workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                           sequential: Int = 300, concurrent: Int = 1000, baseline: Int = 40,
                           limits: SandboxLimits = .init()) throws -> SandboxBenchmark {
        let snippet = "print(1)"
        let pool = try SandboxPool(workers: workers, limits: limits)
        defer { pool.shutdown() }
        var failures = 0
        func count(_ rs: [SandboxResult]) { failures += rs.filter { $0.status != .ok || $0.stdout != "1\n" }.count }

        count(pool.runBlocking(batch: Array(repeating: snippet, count: 4 * workers)))   // warm-up
        var t = Posix.now()
        for _ in 0..<sequential { count([pool.runBlocking(snippet)]) }
        let seq = Double(sequential) / (Posix.now() - t)

        t = Posix.now()
        count(pool.runBlocking(batch: Array(repeating: snippet, count: concurrent)))
        let conc = Double(concurrent) / (Posix.now() - t)

        let plain = try perSecond(baseline, [limits.pythonPath, "-c", snippet])
        let cold = try perSecond(baseline / 2, SandboxWorker.bwrapArguments(limits) + [limits.pythonPath, "-I", "-c", snippet],
                                 dropRoot: geteuid() == 0, seccomp: true)
        return SandboxBenchmark(sequential_per_s: seq, concurrent_per_s: conc, plain_python_per_s: plain,
                                cold_bwrap_per_s: cold, concurrent_over_plain: conc / plain, workers: workers,
                                sequential_snippets: sequential, concurrent_snippets: concurrent,
                                failures: failures, python: pool.isolation.python,
                                preloaded: pool.isolation.preloaded, isolation: SandboxPool.isolationMeasures)
    }

    /// Spawns `argv` `n` times one after another (stdout to a socket we drain), returns runs per second.
    /// `seccomp`: hand it the filter on fd 3, as bwrapArguments expects.
    private static func perSecond(_ n: Int, _ argv: [String], dropRoot: Bool = false, seccomp: Bool = false) throws -> Double {
        let full = (dropRoot ? [SandboxWorker.setprivPath, "--reuid=65534", "--regid=65534", "--clear-groups"] : []) + argv
        let t = Posix.now()
        for _ in 0..<n {
            let (mine, theirs) = try Posix.socketPair()
            let filter = seccomp ? [try SeccompFilter.descriptor()] : []
            let pid = try Posix.spawn(full, env: ["PATH=/usr/bin:/bin"], stdin: theirs, stdout: theirs, stderr: theirs,
                                      inherit: filter)
            close(theirs); filter.forEach { close($0) }
            let out = (try? Posix.readExact(mine, 2, deadline: Posix.now() + 10)) ?? []
            close(mine)
            Posix.reap(pid, grace: 10)
            guard out == Array("1\n".utf8) else {
                throw SandboxError.benchmarkFailed("baseline run of \(argv[0]) printed \(out) instead of 1")
            }
        }
        return Double(n) / (Posix.now() - t)
    }
}
