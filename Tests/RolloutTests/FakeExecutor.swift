import Rollout

/// A stand-in for the sandbox pool: a canned outcome per code string, and a log of every batch it was asked
/// to run (so tests can see what ran, and which codes ran together in one engine step). A code without a
/// canned outcome "fails" with a message naming it, so a test that forgot one sees it in the observation.
final class FakeExecutor: CodeExecutor {
    var outcomes: [String: CodeOutcome]
    private(set) var batches: [[String]] = []

    init(_ outcomes: [String: CodeOutcome] = [:]) { self.outcomes = outcomes }

    /// Every code executed, in order.
    var executed: [String] { batches.flatMap { $0 } }

    func execute(_ codes: [String]) async -> [CodeOutcome] {
        batches.append(codes)
        return codes.map {
            outcomes[$0] ?? CodeOutcome(status: .failed, stdout: "", stderr: "FakeExecutor: no canned outcome for \($0)")
        }
    }

    static func ok(_ stdout: String) -> CodeOutcome { CodeOutcome(status: .ok, stdout: stdout, stderr: "") }
    static func error(_ stderr: String) -> CodeOutcome { CodeOutcome(status: .error, stdout: "", stderr: stderr) }
}
