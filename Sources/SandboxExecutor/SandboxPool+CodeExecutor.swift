import Rollout
import Sandbox

/// The sandbox pool runs the episode engine's code blocks. The policy sees only what its code did: a failure
/// of the sandbox itself is retried on a fresh worker, and the run stops after the pool's limit of such
/// failures in a row (`runRetryingSandboxFailures`).
extension SandboxPool: CodeExecutor {
    public func execute(_ codes: [String]) async throws -> [CodeOutcome] {
        try await runRetryingSandboxFailures(batch: codes).map { r in
            let status: ExecutionStatus
            switch r.status {
            case .ok: status = .ok
            case .error: status = .error
            case .timeout: status = .timeout
            default: status = .failed   // memory/output limits, signals: the snippet's own doing
            }
            return CodeOutcome(status: status, stdout: r.stdout, stderr: r.stderr)
        }
    }
}
