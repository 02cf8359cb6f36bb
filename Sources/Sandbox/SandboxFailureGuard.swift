import Foundation

/// Stops a run that keeps meeting a broken sandbox. A `.sandboxFailure` says nothing about the snippet, so its
/// result must never become an observation or a reward; one now and then (a worker died and was replaced) is
/// survivable, `limit` in a row mean the sandbox cannot run code here and training would learn from noise.
/// Safe to share between tasks.
public final class SandboxFailureGuard: @unchecked Sendable {
    public let limit: Int
    private let lock = NSLock()
    private var consecutive = 0
    private var total = 0

    /// Throws `SandboxError.invalidLimits` unless `limit >= 1`.
    public init(limit: Int = 8) throws {
        guard limit >= 1 else {
            throw SandboxError.invalidLimits("the consecutive sandbox failure limit must be >= 1 (got \(limit))")
        }
        self.limit = limit
    }

    /// Records results in their order: a sandbox failure adds one to the run of failures, anything else ends
    /// it. Throws `SandboxError.repeatedFailures` once `limit` failures came in a row.
    public func record(_ results: [SandboxResult]) throws {
        lock.lock()
        defer { lock.unlock() }
        for r in results {
            guard r.status == .sandboxFailure else { consecutive = 0; continue }
            consecutive += 1
            total += 1
            if consecutive >= limit {
                throw SandboxError.repeatedFailures(count: consecutive, last: r.stderr)
            }
        }
    }

    /// Sandbox failures since the last result that was not one.
    public var consecutiveFailures: Int { lock.lock(); defer { lock.unlock() }; return consecutive }
    /// Sandbox failures recorded so far (for metrics).
    public var totalFailures: Int { lock.lock(); defer { lock.unlock() }; return total }
}
