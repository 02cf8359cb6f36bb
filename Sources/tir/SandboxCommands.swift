import ArgumentParser
import Foundation
import Sandbox

/// `tir sandbox ...`: run untrusted Python in the isolated sandbox.
struct SandboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run Python snippets in the isolated sandbox.",
        subcommands: [SandboxRun.self])
}

struct SandboxRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a Python file in the sandbox; exit 0 only if it ran to completion with exit code 0.")

    @Argument(help: "Python source file ('-' reads standard input).")
    var file: String

    @Flag(help: "Print the structured result as JSON instead of the snippet's output.")
    var json = false

    @Option(help: "Wall-clock timeout in seconds.")
    var timeout: Double = 3

    func run() throws {
        let source: String
        if file == "-" {
            source = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            source = String(decoding: data, as: UTF8.self)
        }
        var limits = SandboxLimits()
        limits.timeout = timeout
        let pool = try SandboxPool(workers: 1, limits: limits)
        let result = pool.runBlocking(source)
        pool.shutdown()
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(result), as: UTF8.self))
        } else {
            FileHandle.standardOutput.write(Data(result.stdout.utf8))
            FileHandle.standardError.write(Data(result.stderr.utf8))
            if result.status != .ok && result.status != .error {
                let how = result.signal.map { " (signal \($0))" } ?? ""
                FileHandle.standardError.write(Data("[sandbox: \(result.status.rawValue)\(how)]\n".utf8))
            }
        }
        switch result.status {
        case .ok: return
        case .error: throw ExitCode(result.exitCode ?? 1)
        default: throw ExitCode(1)
        }
    }
}

struct BenchSandbox: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Isolated executions per second of print(1): pool sequential and concurrent vs plain python3 -c.")

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: "Pool workers (default: number of cores).")
    var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Snippets run one after another.")
    var sequential: Int = 300

    @Option(help: "Snippets submitted at once.")
    var concurrent: Int = 1000

    @Flag(help: "Instead: the soak, 10,000 ordinary and hostile snippets through one pool (about 5 minutes on 2 cores); fails on leaked processes or descriptors, growing memory, or a slowdown.")
    var soak = false

    func run() throws {
        guard workers >= 1, sequential >= 1, concurrent >= 1 else {
            throw ValidationError("--workers, --sequential and --concurrent must be >= 1")
        }
        if soak { return try runSoak() }
        let b = try SandboxBenchmark.run(workers: workers, sequential: sequential, concurrent: concurrent)
        if json {
            try printBenchJSON(try JSONSerialization.jsonObject(with: JSONEncoder().encode(b)) as? [String: Any] ?? [:])
        } else {
            print(String(format: "sequential %.0f/s, concurrent %.0f/s (%d workers), plain python3 -c %.0f/s, "
                         + "cold bwrap+python3 %.0f/s, failures %d", b.sequential_per_s, b.concurrent_per_s,
                         b.workers, b.plain_python_per_s, b.cold_bwrap_per_s, b.failures))
            print("isolation:\n  - " + b.isolation.joined(separator: "\n  - "))
        }
        if b.failures > 0 { throw ExitCode(1) }
    }

    private func runSoak() throws {
        let r = try SandboxSoak.run(workers: workers)
        if json {
            try printBenchJSON(try JSONSerialization.jsonObject(with: JSONEncoder().encode(r)) as? [String: Any] ?? [:])
        } else {
            print(String(format: "soak: %d executions in %.0f s; first/last window %.1f/%.1f per s; fds %d -> %d; "
                         + "RSS max %.1f MB; leaked processes %d", r.executions, r.seconds, r.first_window_per_s,
                         r.last_window_per_s, r.fds_before, r.fds_after, Double(r.rss_max_bytes) / 1e6,
                         r.leaked_processes))
            for p in r.problems { print("  problem: \(p)") }
        }
        if !r.passed { throw ExitCode(1) }
    }
}
