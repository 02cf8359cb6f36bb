import Foundation
import XCTest
import GRPO
import Model
import Rollout
import Tensor
import Training
@testable import Experiments

/// The probe's per-turn numbers against a direct computation from full logits, and a measured batch of the
/// tiny Qwen2 fixture end to end.
final class BaseProbeTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ModelTests/Fixtures/models/tiny-qwen2").standardized
    let task = MathTask(id: "t", question: "What is 6 times 7?", answer: "42", kind: "product", steps: 1)

    /// Teacher-forced episodes: code then a right answer, code then a wrong answer (two turns each), a direct
    /// answer (one turn).
    func episodes(_ m: LanguageModel) async throws -> [Trajectory] {
        let tok = m.tokenizer, end = try XCTUnwrap(tok.eos.min())
        let code = EpisodeFormat().codeBlock("print(6*7)")
        let scripts = [code + "\\boxed{42}", code + "\\boxed{41}", "\\boxed{42}"].map { tok.encode($0) + [end] }
        var rc = RolloutConfig()
        rc.maxToolCalls = 1
        let engine = try EpisodeEngine(config: rc, reward: ToRLReward(), tokenizer: tok, prompt: try PromptTemplate(model: m, config: rc))
        let source = PolicyTokenSource(policy: m.policy, params: SamplingParams(), seed: 1, script: scripts)
        return try await engine.run(tasks: [task], groupSize: 3, source: source, executor: Constant42(),
                                    contextLimit: m.policy.config.context).0
    }

    func testPerTurnSumsMatchFullLogits() async throws {
        let m = try LanguageModel.load(Self.fixture)
        let ts = try await episodes(m)
        XCTAssertEqual(ts.map(\.turns.count), [2, 2, 1])
        let advantages = try groupAdvantages(rewards: ts.map(\.reward), groupSize: 3, estimator: .grpo)
        let sums = ProbeSums()
        try sums.add(m.policy, ts, advantages: advantages, temperature: 1)
        let rows = sums.rows(ts)

        // Direct: every policy token's entropy, factor |e_t - p|^2 and the trainer's probability, by turn.
        var entropy = [0.0, 0.0], count = [0.0, 0.0], grad = [0.0, 0.0], factor = [0.0, 0.0], diff = 0.0
        var head = [0.0, 0.0], headCount = [0.0, 0.0], low = [0.0, 0.0], lowGrad = [0.0, 0.0]
        let vocab = m.policy.config.vocab
        for (t, a) in zip(ts, advantages) {
            let n = t.tokens.count
            let logits = try noGrad { try m.policy.logits(tokens: Array(t.tokens[..<(n - 1)]), batch: 1, seqLen: n - 1) }.array
            for (k, turn) in t.turns.enumerated() {
                for i in turn.policyRange where t.roles[i] == .policy {
                    let row = logits[((i - 1) * vocab)..<(i * vocab)].map(Double.init)
                    let mx = row.max()!, z = row.map { exp($0 - mx) }.reduce(0, +)
                    let p = row.map { exp($0 - mx) / z }
                    let h = -p.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }
                    entropy[k] += h
                    count[k] += 1
                    if i - turn.policyRange.lowerBound < afterToolWindow { head[k] += h; headCount[k] += 1 }
                    let isLow = t.samplingLogProbs[i] < logf(1e-3)
                    let target = Int(t.tokens[i])
                    let f = 1 - 2 * p[target] + p.reduce(0) { $0 + $1 * $1 }
                    factor[k] += f
                    grad[k] += f * Double(a * a)
                    if isLow { low[k] += 1; lowGrad[k] += f * Double(a * a) }
                    diff += abs(p[target] - Double(expf(t.samplingLogProbs[i])))
                }
            }
        }
        XCTAssertEqual(rows.map(\.turn), [0, 1])
        XCTAssertEqual(rows.map(\.turns), [3, 2])
        XCTAssertEqual(rows.map(\.tokens), count.map { Int($0) })
        for k in 0..<2 {
            XCTAssertEqual(rows[k].entropy, entropy[k] / count[k], accuracy: 1e-4, "turn \(k)")
            XCTAssertEqual(rows[k].gradShare, grad[k] / grad.reduce(0, +), accuracy: 1e-4, "turn \(k)")
            XCTAssertEqual(rows[k].factorShare, factor[k] / factor.reduce(0, +), accuracy: 1e-4, "turn \(k)")
            XCTAssertEqual(rows[k].headEntropy, head[k] / headCount[k], accuracy: 1e-4, "turn \(k)")
            XCTAssertEqual(rows[k].lowProb, low[k] / count[k], accuracy: 1e-12, "turn \(k)")
            XCTAssertEqual(rows[k].lowProbGradShare, lowGrad[k] / grad.reduce(0, +), accuracy: 1e-4, "turn \(k)")
        }
        XCTAssertEqual(sums.entropy.mean, entropy.reduce(0, +) / count.reduce(0, +), accuracy: 1e-4)
        // The scripted sampler is the fp32 policy: sampler and trainer agree up to rounding.
        XCTAssertEqual(sums.diff.mean, diff / count.reduce(0, +), accuracy: 1e-6)
        XCTAssertLessThan(sums.diff.mean, 1e-4)
    }

    /// A sampled batch: every trajectory reaches turn 0, shares add up, and the bf16 sampler differs from the trainer.
    func testMeasuredBatchWithABF16Sampler() async throws {
        var c = InstabilitySweep.realSized(steps: 1)
        c.promptsPerStep = 2
        c.groupSize = 2
        c.rollout.maxTurnTokens = 12
        c.rollout.maxTrajectoryTokens = 40
        let tasks = BuiltinTasks(c.tasks, seed: 1, byteLevel: false).train
        let p = try await BaseProbe.measure(base: Self.fixture, config: c, tasks: tasks, executor: Constant42())
        XCTAssertEqual(p.trajectories, 4)
        XCTAssertEqual(p.byTurn.first?.turns, 4)
        XCTAssertEqual(p.sampler, "bf16 weights, bf16 KV cache")
        XCTAssertGreaterThan(p.probDiffMean, 0)
        XCTAssertEqual(p.byTurn.reduce(0) { $0 + $1.factorShare }, 1, accuracy: 1e-9)
        XCTAssertTrue(p.entropy > 0 && p.entropy.isFinite)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("probe-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try p.write(to: url)
        XCTAssertEqual(BaseProbe.read(url)?.byTurn.count, p.byTurn.count)
        XCTAssertTrue(probeMarkdown([("tiny", p)]).contains("| tiny | 0 | 4 |"))
    }
}

/// Runs every code block as printing "42".
final class Constant42: CodeExecutor {
    func execute(_ codes: [String]) async -> [CodeOutcome] {
        codes.map { _ in CodeOutcome(status: .ok, stdout: "42\n", stderr: "") }
    }
}
