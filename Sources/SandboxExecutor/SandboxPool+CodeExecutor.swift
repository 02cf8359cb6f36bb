import Rollout
import Sandbox

/// The sandbox pool runs the episode engine's code blocks.
extension SandboxPool: CodeExecutor {
    public func execute(_ codes: [String]) async -> [CodeOutcome] {
        await run(batch: codes).map { r in
            let status: ExecutionStatus
            switch r.status {
            case .ok: status = .ok
            case .error: status = .error
            case .timeout: status = .timeout
            default: status = .failed
            }
            return CodeOutcome(status: status, stdout: r.stdout, stderr: r.stderr)
        }
    }
}
