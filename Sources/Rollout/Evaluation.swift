import Foundation
import Model

/// Held-out metrics of a policy: pass@1 averaged over k samples per task, tool use and failure rates.
public struct EvalReport: Codable, Sendable {
    public var tasks = 0
    public var samplesPerTask = 0
    public var accuracy = 0.0            // mean correctness over all samples (pass@1 estimated from k samples)
    public var toolCallRate = 0.0        // fraction of trajectories with at least one executed tool call
    public var meanToolCalls = 0.0
    public var meanTurns = 0.0
    public var voidTurnRate = 0.0        // fraction of trajectories with a void turn
    public var execErrorRate = 0.0       // fraction of executed code blocks that did not run cleanly
    public var meanLength = 0.0          // policy tokens per trajectory
    public var trajectoriesPerSecond = 0.0
    public var policyTokensPerSecond = 0.0
    public var seconds = 0.0
    /// The rule that read the final answers (`AnswerRule`).
    public var answerRule = AnswerRule.boxed.rawValue

    public var table: String {
        func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
        return """
        tasks x samples     \(tasks) x \(samplesPerTask)
        accuracy (pass@1)   \(pct(accuracy))   (answer rule: \(answerRule))
        tool-call rate      \(pct(toolCallRate))   (mean calls \(String(format: "%.2f", meanToolCalls)))
        mean turns          \(String(format: "%.2f", meanTurns))
        void-turn rate      \(pct(voidTurnRate))
        exec-error rate     \(pct(execErrorRate))
        mean length         \(String(format: "%.1f", meanLength)) policy tokens
        throughput          \(String(format: "%.1f", trajectoriesPerSecond)) traj/s, \(String(format: "%.0f", policyTokensPerSecond)) policy tok/s
        """
    }
}

/// Runs every task `samples` times (in chunks of at most `batchTrajectories` live trajectories), prompted in
/// the model's chat format when it has one (`PromptTemplate(model:config:)`).
public func evaluate(model: LanguageModel, tasks: [MathTask], samples: Int, config: RolloutConfig,
                     format: EpisodeFormat = EpisodeFormat(), reward: RewardScheme = ToRLReward(),
                     executor: CodeExecutor?, seed: UInt64, batchTrajectories: Int = 128,
                     progress: ((Int, Int) -> Void)? = nil) async throws -> (report: EvalReport, trajectories: [Trajectory]) {
    guard samples > 0, !tasks.isEmpty else { throw RolloutError("evaluate needs at least one task and one sample") }
    let policy = model.policy
    let engine = try EpisodeEngine(config: config, format: format, reward: reward, tokenizer: model.tokenizer,
                                   prompt: try PromptTemplate(model: model, config: config))
    let perChunk = max(1, batchTrajectories / samples)
    var all: [Trajectory] = []
    var seconds = 0.0
    for (c, start) in stride(from: 0, to: tasks.count, by: perChunk).enumerated() {
        let chunk = Array(tasks[start ..< min(tasks.count, start + perChunk)])
        let source = PolicyTokenSource(policy: policy, params: config.sampling, seed: seed &+ UInt64(c) &* 7919,
                                       tokenCount: model.tokenizer.tokenCount)
        let (t, stats) = try await engine.run(tasks: chunk, groupSize: samples, source: source, executor: executor,
                                              contextLimit: policy.config.context)
        all += t
        seconds += stats.totalSeconds
        progress?(min(tasks.count, start + perChunk), tasks.count)
    }
    var r = EvalReport()
    let stats = TrajectoryStats(all)
    r.tasks = tasks.count
    r.samplesPerTask = samples
    r.accuracy = stats.accuracy
    r.toolCallRate = stats.toolCallRate
    r.meanToolCalls = stats.meanToolCalls
    r.meanTurns = stats.meanTurns
    r.voidTurnRate = stats.voidTurnRate
    r.execErrorRate = stats.execErrorRate
    r.meanLength = stats.meanLength
    r.seconds = seconds
    r.answerRule = config.answerRule.rawValue
    r.trajectoriesPerSecond = Double(all.count) / max(seconds, 1e-9)
    r.policyTokensPerSecond = Double(stats.policyTokens) / max(seconds, 1e-9)
    return (r, all)
}
