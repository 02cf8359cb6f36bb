import Foundation

/// Per-snippet limits, plus pool policy. Defaults suit print-sized arithmetic snippets of a rollout.
public struct SandboxLimits: Sendable, Codable, Equatable {
    /// Wall-clock seconds before the snippet and everything it started are killed (status .timeout).
    public var timeout: Double = 3
    /// RLIMIT_CPU seconds (SIGXCPU at the limit, SIGKILL one second later; status .timeout).
    public var cpuSeconds: Int = 5
    /// RLIMIT_AS bytes per process (an allocation beyond it raises MemoryError; status .memoryLimit).
    public var memoryBytes: Int = 512 << 20
    /// RLIMIT_NPROC: tasks (processes + threads) of the sandbox uid in the worker's namespace, server included.
    /// Bounded by totalMemoryBytes (see there).
    public var maxProcesses: Int = 5
    /// The memory one snippet with all its children can hold. Enforced without cgroups: every snippet task
    /// (maxProcesses - 1, the server excluded) may map memoryBytes, and the two tmpfs can hold tmpfsBytes each,
    /// so validate() requires (maxProcesses - 1) * memoryBytes + 2 * tmpfsBytes <= totalMemoryBytes.
    public var totalMemoryBytes: Int = 2560 << 20
    /// RLIMIT_FSIZE bytes: the largest file a snippet may write.
    public var maxFileBytes: Int = 16 << 20
    /// RLIMIT_NOFILE.
    public var maxOpenFiles: Int = 64
    /// Bytes kept per stream (stdout, stderr): the first half and the last half, with a marker in between.
    public var outputCapBytes: Int = 16 << 10
    /// Total bytes written to stdout + stderr after which the snippet is killed (status .outputLimit).
    public var outputKillBytes: Int = 4 << 20
    /// Size of the sandbox's tmpfs /tmp (and /dev/shm), so a snippet cannot fill the host's memory with files.
    public var tmpfsBytes: Int = 64 << 20
    /// Largest accepted snippet source, in UTF-8 bytes.
    public var maxCodeBytes: Int = 1 << 20
    /// A worker is replaced after this many snippets (bounds any slow state drift in the fork-server).
    public var snippetsPerWorker: Int = 1000
    /// The interpreter; must live under /usr, the only host directory bound into the sandbox.
    public var pythonPath: String = "/usr/bin/python3"
    /// Modules imported once by each fork-server (missing ones are skipped); children get them for free.
    public var preloadModules: [String] = ["math", "cmath", "fractions", "decimal", "itertools", "functools",
                                           "collections", "statistics", "random", "re", "string", "heapq",
                                           "bisect", "operator", "numpy", "sympy"]
    /// The only environment variables a snippet sees (plus HOME and TMPDIR = its private temp dir).
    public var environment: [String: String] = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                                                "PYTHONIOENCODING": "utf-8", "OPENBLAS_NUM_THREADS": "1"]

    public init() {}

    /// The most memory one snippet with all its children can hold under these limits (see totalMemoryBytes).
    /// Saturates at Int.max instead of overflowing.
    public var worstCaseMemoryBytes: Int {
        let (tasks, o1) = max(0, maxProcesses - 1).multipliedReportingOverflow(by: max(0, memoryBytes))
        let (files, o2) = max(0, tmpfsBytes).multipliedReportingOverflow(by: 2)
        let (sum, o3) = tasks.addingReportingOverflow(files)
        return o1 || o2 || o3 ? .max : sum
    }

    /// Throws a message naming the bad field; a pool is never built on nonsense limits.
    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw SandboxError.invalidLimits(what) }
        }
        try check(timeout > 0 && timeout.isFinite, "timeout must be a positive number of seconds (got \(timeout))")
        try check(cpuSeconds >= 1, "cpuSeconds must be >= 1 (got \(cpuSeconds))")
        try check(memoryBytes >= 64 << 20, "memoryBytes must be >= 64 MiB so Python can start (got \(memoryBytes))")
        try check(maxProcesses >= 2, "maxProcesses must be >= 2: the fork-server and the snippet (got \(maxProcesses))")
        let worst = worstCaseMemoryBytes
        try check(worst <= totalMemoryBytes,
                  "(maxProcesses - 1) * memoryBytes + 2 * tmpfsBytes = \(worst >> 20) MiB exceeds totalMemoryBytes = "
                  + "\(totalMemoryBytes >> 20) MiB; lower maxProcesses to \(max(1, (totalMemoryBytes - 2 * tmpfsBytes) / memoryBytes) + 1) "
                  + "or memoryBytes, or raise totalMemoryBytes")
        try check(maxFileBytes >= 0, "maxFileBytes must be >= 0 (got \(maxFileBytes))")
        try check(maxOpenFiles >= 8 && maxOpenFiles <= 256,
                  "maxOpenFiles must be in 8...256, the fork-server's own limit (got \(maxOpenFiles))")
        try check(outputCapBytes >= 64, "outputCapBytes must be >= 64 (got \(outputCapBytes))")
        try check(outputKillBytes >= outputCapBytes, "outputKillBytes must be >= outputCapBytes")
        try check(tmpfsBytes >= 1 << 20, "tmpfsBytes must be >= 1 MiB (got \(tmpfsBytes))")
        try check(maxCodeBytes >= 1 && maxCodeBytes <= Int(UInt32.max), "maxCodeBytes must be in 1...2^32-1")
        try check(snippetsPerWorker >= 1, "snippetsPerWorker must be >= 1")
        try check(pythonPath.hasPrefix("/usr/"),
                  "pythonPath must live under /usr (the only host directory in the sandbox), got \(pythonPath); "
                  + "install Debian's python3 (apt-get install python3) and use /usr/bin/python3")
        for key in environment.keys {
            try check(!key.isEmpty && !key.contains("=") && key != "HOME" && key != "TMPDIR",
                      "environment keys must be non-empty, without '=', and not HOME/TMPDIR (got \(key))")
        }
    }
}

public enum SandboxStatus: String, Codable, Sendable {
    /// Ran to completion with exit code 0.
    case ok
    /// Ran to completion with a non-zero exit code (uncaught exception, sys.exit(n)), or was refused without
    /// running because it is larger than maxCodeBytes (exitCode nil, stderr says so).
    case error
    /// Wall-clock timeout or CPU-time limit.
    case timeout
    /// The snippet died of MemoryError (address-space limit).
    case memoryLimit
    /// The snippet wrote more than outputKillBytes and was killed.
    case outputLimit
    /// The snippet was killed by a signal (segfault, abort, killed itself).
    case signaled
    /// The sandbox itself failed: bwrap could not start, a worker died or broke the protocol, the snippet's
    /// process could not be set up, or the pool was shut down. Says nothing about the snippet (it may not have
    /// run): never show it to a policy or reward it; SandboxFailureGuard stops a run after repeated ones.
    case sandboxFailure
}

public struct SandboxResult: Codable, Sendable, Equatable {
    public var status: SandboxStatus
    /// Exit code when the snippet exited by itself.
    public var exitCode: Int32?
    /// Signal number when it was killed (by itself, a limit, or the wall-clock kill = SIGKILL).
    public var signal: Int32?
    /// Valid UTF-8 (invalid bytes replaced by U+FFFD), at most about outputCapBytes + a marker line.
    public var stdout: String
    public var stderr: String
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    /// From fork to the last process reaped, measured inside the sandbox.
    public var wallSeconds: Double
    /// User + system CPU seconds of the snippet's main process.
    public var cpuSeconds: Double

    public init(status: SandboxStatus, exitCode: Int32? = nil, signal: Int32? = nil, stdout: String = "",
                stderr: String = "", stdoutTruncated: Bool = false, stderrTruncated: Bool = false,
                wallSeconds: Double = 0, cpuSeconds: Double = 0) {
        self.status = status; self.exitCode = exitCode; self.signal = signal
        self.stdout = stdout; self.stderr = stderr
        self.stdoutTruncated = stdoutTruncated; self.stderrTruncated = stderrTruncated
        self.wallSeconds = wallSeconds; self.cpuSeconds = cpuSeconds
    }

    /// A result for a snippet the sandbox could not run; `why` goes to stderr.
    public static func failure(_ why: String) -> SandboxResult {
        SandboxResult(status: .sandboxFailure, stderr: "sandbox failure: " + why)
    }
}

public enum SandboxError: Error, CustomStringConvertible {
    case invalidLimits(String)
    case isolationUnavailable(String)
    case benchmarkFailed(String)
    /// `count` sandbox failures in a row (SandboxFailureGuard); `last` is the last one's message.
    case repeatedFailures(count: Int, last: String)

    public var description: String {
        switch self {
        case .invalidLimits(let s): return "invalid sandbox limits: \(s)"
        case .isolationUnavailable(let s):
            return "sandbox isolation is unavailable, refusing to run untrusted code: \(s) "
                + "(run scripts/setup.sh to install bubblewrap and python3; unprivileged user namespaces must be allowed)"
        case .benchmarkFailed(let s): return "sandbox benchmark failed: \(s)"
        case .repeatedFailures(let count, let last):
            return "the sandbox failed \(count) times in a row (last: \(last)); stopping rather than training on "
                + "infrastructure errors, none of which was shown to the policy. Check the sandbox with "
                + "`tir bench sandbox` and scripts/setup.sh"
        }
    }
}

/// What a fork-server reported about its own sandbox at start-up; checked before any snippet runs.
public struct SandboxIsolationReport: Codable, Sendable {
    public var uid: Int
    public var gid: Int
    public var pid: Int
    public var caps: [String]
    public var net: [String]
    /// The Seccomp field of /proc/self/status: 2 when a filter is in force.
    public var seccomp: Int
    public var python: String
    public var preloaded: [String]
}
