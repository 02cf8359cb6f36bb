import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Many executions of ordinary and hostile snippets through one pool, checking that nothing accumulates:
/// every snippet gets its expected outcome, no process or descriptor is left after shutdown, the trainer's RSS
/// stays bounded and the last window runs as fast as the first. A benchmark (minutes), not a CI test.
public struct SandboxSoak: Codable, Sendable {
    public var executions: Int
    public var window: Int
    public var workers: Int
    public var seconds: Double
    public var first_window_per_s: Double
    public var last_window_per_s: Double
    public var last_over_first: Double
    /// Median wall time inside the sandbox of the window's arithmetic snippets (the windows' speed is mostly
    /// the hostile timeouts; this is the ordinary snippet's own cost).
    public var first_window_arithmetic_median_ms: Double
    public var last_window_arithmetic_median_ms: Double
    public var fds_before: Int
    public var fds_after: Int
    public var fds_max_during: Int
    public var rss_after_first_window_bytes: Int
    public var rss_max_bytes: Int
    public var rss_end_bytes: Int
    public var processes_max_during: Int
    public var leaked_processes: Int
    public var workers_started: Int
    /// Results by status, over all executions.
    public var statuses: [String: Int]
    /// Snippets whose outcome was not the expected one, and the first few of them.
    public var unexpected_count: Int
    public var unexpected: [String]
    /// Why the soak failed; empty when it passed.
    public var problems: [String]
    public var passed: Bool

    /// The limits of a soak: the defaults with a 1 s wall clock, so the hostile timeouts do not dominate.
    public static var defaultLimits: SandboxLimits {
        var l = SandboxLimits()
        l.timeout = 1
        return l
    }

    /// Runs `executions` snippets (a multiple of `window`, itself a multiple of the 50-snippet mix) in
    /// batches of `window`. Passes if, besides the checks above, the last window runs at least
    /// `minimumSpeedRatio` times as fast as the first. Throws only if the pool cannot start or the arguments
    /// are invalid.
    public static func run(executions: Int = 10_000, window: Int = 1000,
                           workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                           limits: SandboxLimits = defaultLimits, minimumSpeedRatio: Double = 0.8) throws -> SandboxSoak {
        let mix = SoakMix.cases
        guard window >= mix.count, window % mix.count == 0, executions >= 2 * window, executions % window == 0 else {
            throw SandboxError.benchmarkFailed("executions (\(executions)) must be a multiple of window (\(window)), "
                                               + "at least two windows, and window a multiple of \(mix.count)")
        }
        let me = getpid()
        let fdsBefore = SoakProbe.openDescriptors(), processesBefore = SoakProbe.descendants(of: me)
        let pool = try SandboxPool(workers: workers, limits: limits)
        var soak = SandboxSoak(executions: executions, window: window, workers: workers, seconds: 0,
                               first_window_per_s: 0, last_window_per_s: 0, last_over_first: 0,
                               first_window_arithmetic_median_ms: 0, last_window_arithmetic_median_ms: 0,
                               fds_before: fdsBefore, fds_after: 0, fds_max_during: 0,
                               rss_after_first_window_bytes: 0, rss_max_bytes: 0, rss_end_bytes: 0,
                               processes_max_during: 0, leaked_processes: 0, workers_started: 0, statuses: [:],
                               unexpected_count: 0, unexpected: [], problems: [], passed: false)
        let batch = (0..<window).map { mix[$0 % mix.count] }
        let start = Posix.now()
        for w in 0..<executions / window {
            let t = Posix.now()
            let results = pool.runBlocking(batch: batch.map(\.code))
            let perSecond = Double(window) / (Posix.now() - t)
            let arithmetic = zip(batch, results).filter { $0.0.name == "arithmetic" }.map { $0.1.wallSeconds }.sorted()
            let medianMs = arithmetic.isEmpty ? 0 : 1000 * arithmetic[arithmetic.count / 2]
            if w == 0 { soak.first_window_per_s = perSecond; soak.first_window_arithmetic_median_ms = medianMs }
            soak.last_window_per_s = perSecond
            soak.last_window_arithmetic_median_ms = medianMs
            for (i, (c, r)) in zip(batch, results).enumerated() {
                soak.statuses[r.status.rawValue, default: 0] += 1
                if !c.expected(r) {
                    soak.unexpected_count += 1
                    if soak.unexpected.count < 20 {
                        soak.unexpected.append("execution \(w * window + i) (\(c.name)): \(r.status.rawValue), "
                                               + "stdout \(r.stdout.prefix(120).debugDescription), "
                                               + "stderr \(r.stderr.suffix(200).debugDescription)")
                    }
                }
            }
            let rss = SoakProbe.residentBytes()
            if w == 0 { soak.rss_after_first_window_bytes = rss }
            soak.rss_max_bytes = max(soak.rss_max_bytes, rss)
            soak.fds_max_during = max(soak.fds_max_during, SoakProbe.openDescriptors())
            soak.processes_max_during = max(soak.processes_max_during,
                                            SoakProbe.descendants(of: me).subtracting(processesBefore).count)
        }
        soak.seconds = Posix.now() - start
        soak.workers_started = pool.workersStarted
        soak.rss_end_bytes = SoakProbe.residentBytes()
        pool.shutdown()
        soak.fds_after = SoakProbe.openDescriptors()
        soak.leaked_processes = SoakProbe.descendants(of: me).subtracting(processesBefore).count
        soak.last_over_first = soak.last_window_per_s / soak.first_window_per_s
        soak.problems = soak.judge(limits: limits, minimumSpeedRatio: minimumSpeedRatio)
        soak.passed = soak.problems.isEmpty
        return soak
    }

    /// The pass criteria, each with the figure that broke it.
    func judge(limits: SandboxLimits, minimumSpeedRatio: Double) -> [String] {
        var p: [String] = []
        if unexpected_count > 0 { p.append("\(unexpected_count) snippets did not get their expected outcome") }
        if leaked_processes > 0 { p.append("\(leaked_processes) processes outlived the pool") }
        if fds_after != fds_before { p.append("open descriptors \(fds_before) before, \(fds_after) after") }
        // Each worker holds two sockets while it is replaced (old and new), plus bwrap's error socket.
        if fds_max_during > fds_before + 4 * workers { p.append("up to \(fds_max_during) open descriptors during the run") }
        // Per worker: bwrap outside, the fork-server, and up to maxProcesses - 1 snippet tasks while one ends.
        if processes_max_during > workers * (limits.maxProcesses + 2) {
            p.append("up to \(processes_max_during) processes during the run")
        }
        let growth = rss_end_bytes - rss_after_first_window_bytes
        if growth > 32 << 20 { p.append("RSS grew by \(growth >> 20) MiB after the first window") }
        if last_over_first < minimumSpeedRatio { p.append(String(format: "the last window ran at %.2f x the first", last_over_first)) }
        return p
    }
}

/// What the soak measures about the trainer process itself, from /proc.
enum SoakProbe {
    static func openDescriptors() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count
    }

    static func residentBytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1]) else { return 0 }
        return kb << 10
    }

    /// Pids of `root`'s children, grandchildren, ... (sandbox processes included: they have host pids too).
    static func descendants(of root: pid_t) -> Set<pid_t> {
        var parent: [pid_t: pid_t] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(name),
                  let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")   // state, ppid, ...
            if fields.count > 1, let ppid = pid_t(fields[1]) { parent[pid] = ppid }
        }
        var out = Set<pid_t>()
        for pid in parent.keys {
            var p = pid, hops = 0
            while let up = parent[p], up > 0, hops < 64 {
                if up == root { out.insert(pid); break }
                p = up; hops += 1
            }
        }
        return out
    }
}
