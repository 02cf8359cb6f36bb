import XCTest
import Model
import Rollout
import Tensor
@testable import GRPO

/// Runs every code block as printing "2".
final class PrintsTwo: CodeExecutor {
    func execute(_ codes: [String]) async -> [CodeOutcome] {
        codes.map { _ in CodeOutcome(status: .ok, stdout: "2\n", stderr: "") }
    }
}

/// Episodes with tool output from a real (tiny) policy, teacher-forced to write the scripts, and the
/// trainer's packing of them: the behaviour log-prob of every fed token is the one the trainer computes.
final class BehaviourLogProbTests: XCTestCase {
    let tokenizer = ByteTokenizer()
    let format = EpisodeFormat()

    /// A tiny random policy with far-from-uniform logits (so tool tokens have p well below 1).
    func tinyPolicy() throws -> Policy {
        let policy = try Policy(config: PolicyConfig(dim: 16, layers: 2, heads: 2, ffn: 20, context: 128), seed: 3)
        var rng = RNG(seed: 4)
        for e in policy.arena.entries where e.shape.count == 2 { try policy.arena.fillNormal(e.name, std: 0.3, rng: &rng) }
        return policy
    }

    /// One task x 4 samples: two use the tool (one right, one wrong), two answer directly (right, wrong).
    func episodes(_ policy: Policy) async throws -> [Trajectory] {
        let task = MathTask(id: "t", question: "1+1?", answer: "2", kind: "test", steps: 1)
        let scripts = [format.codeBlock("print(2)") + "\\boxed{2}", format.codeBlock("print(2)") + "\\boxed{3}",
                       "\\boxed{2}", "\\boxed{5}"].map { tokenizer.encode($0) + [ByteTokenizer.eos] }
        let source = PolicyTokenSource(policy: policy, params: SamplingParams(), seed: 1, script: scripts)
        var rc = RolloutConfig()
        rc.maxToolCalls = 1
        let engine = try EpisodeEngine(config: rc, reward: ToRLReward())
        let (ts, _) = try await engine.run(tasks: [task], groupSize: 4, source: source, executor: PrintsTwo(), contextLimit: 128)
        XCTAssertEqual(ts.map(\.toolCalls), [1, 1, 0, 0])
        XCTAssertEqual(ts.map(\.reward), [1, -1, 1, -1])
        return ts
    }

    func trainer(_ policy: Policy, maskToolTokens: Bool, recompute: Bool = false) throws -> GRPOTrainer {
        var c = GRPOConfig()
        c.promptsPerStep = 1; c.groupSize = 4; c.miniBatches = 1; c.microBatch = 4
        c.filter.maskToolTokens = maskToolTokens; c.filter.voidTurns = false; c.correction.recomputeOldLogProbs = recompute
        return try GRPOTrainer(config: c, policy: policy, tasks: ArrayTaskSource([]), executor: nil)
    }

    /// The fix of issue 13 point 1: tool tokens used to carry old log-prob 0, so unmasked their ratio was p.
    func testUnmaskedToolTokenHasRatioOneOnPolicy() async throws {
        let policy = try tinyPolicy()
        let ts = try await episodes(policy)
        for recompute in [false, true] {
            let trainer = try trainer(policy, maskToolTokens: false, recompute: recompute)
            let p = try trainer.prepare(ts)
            let batch = try trainer.pack(Array(ts.indices), p)
            let logp = try noGrad { try trainer.forward(batch) }.array
            var toolRows = 0, lowest: Float = 1
            for i in 0..<batch.count where batch.places[i] == .tool {
                XCTAssertEqual(batch.mask[i], 1)
                let ratio = expf(logp[i] - batch.oldLogProbs[i])
                XCTAssertEqual(ratio, 1, accuracy: recompute ? 1e-6 : 1e-4, "tool row \(i): ratio \(ratio)")
                lowest = min(lowest, expf(logp[i]))
                toolRows += 1
            }
            XCTAssertGreaterThan(toolRows, 20, "both tool trajectories' observations are in the batch")
            XCTAssertLessThan(lowest, 0.5, "with old log-prob 0 these ratios would be p, far from 1")
            // On-policy, no token is clipped in the first update (before the fix, negative-advantage tool
            // tokens with p < 0.8 were).
            let r = try trainer.update(p)
            XCTAssertEqual(r.lossStats.clippedLow + r.lossStats.clippedHigh + r.lossStats.dualClipped, 0)
            XCTAssertGreaterThan(r.attribution.byPlace[Int(TokenPlace.tool.rawValue)], 0, "unmasked tool tokens carry gradient")
        }
    }

    /// Masked tool tokens keep exactly zero gradient, whatever their behaviour log-prob now is.
    func testMaskedToolTokensGetExactlyZeroGradient() async throws {
        let policy = try tinyPolicy()
        let ts = try await episodes(policy)
        let trainer = try trainer(policy, maskToolTokens: true)
        let p = try trainer.prepare(ts)
        let batch = try trainer.pack(Array(ts.indices), p)
        XCTAssertTrue(batch.behaviourLogProbs.indices.contains { batch.places[$0] == .tool && batch.behaviourLogProbs[$0] < 0 })
        // The trainer's forward, with its hidden states at hand: the fused head passes on exactly the zero
        // gradient a masked row's log-prob gets.
        let h = try policy.hidden(tokens: batch.inputs, layout: batch.attentionLayout)
        let logp = try headLogProbs(h, policy.outputHead, targets: batch.targets,
                                    temperature: trainer.config.rollout.sampling.temperature)
        XCTAssertEqual(logp.array, try noGrad { try trainer.forward(batch) }.array)
        let (loss, _) = try policyLoss(logp, batch: batch, config: trainer.config.loss,
                                       normalizer: try lossNormalizer(trainer.config.loss, batches: [batch]))
        try loss.backward()
        let g = h.gradArray!, v = h.shape[1]
        var tool = 0, policyRows = 0
        for i in 0..<batch.count {
            let row = g[(i * v)..<((i + 1) * v)]
            if batch.places[i] == .tool { XCTAssertTrue(row.allSatisfy { $0 == 0 }, "tool row \(i) has gradient"); tool += 1 }
            if batch.mask[i] != 0 { XCTAssertTrue(row.contains { $0 != 0 }); policyRows += 1 }
        }
        XCTAssertGreaterThan(tool, 20)
        XCTAssertGreaterThan(policyRows, 20)
    }
}
