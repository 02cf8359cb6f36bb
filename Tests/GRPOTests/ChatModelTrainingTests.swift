import Foundation
import XCTest
import Model
import Rollout
import Tensor
import Training
@testable import GRPO

/// GRPO on a real architecture with a real tokenizer and chat template: the tiny Qwen2 fixture (GQA, q/k/v
/// biases, untied head, byte-level BPE, ChatML), committed with the model tests.
final class ChatModelTrainingTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ModelTests/Fixtures/models/tiny-qwen2").standardized

    let task = MathTask(id: "t", question: "What is 6 times 7?", answer: "42", kind: "product", steps: 1)

    func model() throws -> LanguageModel { try LanguageModel.load(Self.fixture) }

    /// Teacher-forced episodes of one task x 3 samples in the model's chat format: code then a right answer,
    /// code then a wrong answer, a direct answer.
    func episodes(_ m: LanguageModel, config rc: RolloutConfig) async throws -> (ts: [Trajectory], prompt: [Int32]) {
        let tok = m.tokenizer
        let end = try XCTUnwrap(tok.eos.min())
        let code = EpisodeFormat().codeBlock("print(6*7)")
        let scripts = [code + "\\boxed{42}", code + "\\boxed{41}", "\\boxed{42}"].map { tok.encode($0) + [end] }
        let source = PolicyTokenSource(policy: m.policy, params: SamplingParams(), seed: 1, script: scripts)
        let prompt = try PromptTemplate(model: m, config: rc)
        let engine = try EpisodeEngine(config: rc, reward: ToRLReward(), tokenizer: tok, prompt: prompt)
        let (ts, _) = try await engine.run(tasks: [task], groupSize: 3, source: source, executor: PrintsFortyTwo(),
                                           contextLimit: m.policy.config.context)
        return (ts, tok.encode(prompt.text(question: task.question, format: EpisodeFormat())))
    }

    /// Roles survive the chat template: the rendered conversation is the prompt, the policy's tokens are the
    /// script, the observation is the tool's, and the end-of-turn token is the policy's (it learns to stop).
    func testRolesSurviveTheChatTemplate() async throws {
        let m = try model()
        var rc = RolloutConfig()
        rc.maxToolCalls = 1
        let (ts, prompt) = try await episodes(m, config: rc)
        let text = m.tokenizer.decode(prompt)
        XCTAssertTrue(text.hasPrefix("<|im_start|>system\n"), text)
        XCTAssertTrue(text.hasSuffix("<|im_end|>\n<|im_start|>assistant\n"), text)
        XCTAssertTrue(text.contains("What is 6 times 7?\n" + PromptTemplate.defaultInstruction(.torl)), text)
        XCTAssertEqual(ts.map(\.reward), [1, -1, 1])
        XCTAssertEqual(ts.map(\.toolCalls), [1, 1, 0])
        for t in ts {
            XCTAssertEqual(Array(t.tokens.prefix(prompt.count)), prompt)
            XCTAssertTrue(t.roles.prefix(prompt.count).allSatisfy { $0 == .prompt })
            XCTAssertEqual(t.roles.last, .policy)
            XCTAssertTrue(m.tokenizer.eos.contains(t.tokens.last!), "the end-of-turn token ends the trajectory")
            let tool = zip(t.tokens, t.roles).filter { $0.1 == .tool }.map(\.0)
            XCTAssertEqual(m.tokenizer.decode(tool), t.toolCalls > 0 ? EpisodeFormat().observationBlock("42") : "")
        }
    }

    /// Through the trainer's packing, forward and fused head: tool and prompt rows get exactly zero gradient
    /// at the hidden states, policy rows do not; on-policy every loss token has ratio 1.
    func testToolAndPromptTokensGetExactlyZeroGradient() async throws {
        let m = try model()
        var c = GRPOConfig()
        c.promptsPerStep = 1; c.groupSize = 3; c.miniBatches = 1; c.microBatch = 3
        c.filter.voidTurns = false; c.rollout.maxToolCalls = 1
        let (ts, _) = try await episodes(m, config: c.rollout)
        let trainer = try GRPOTrainer(config: c, model: m, tasks: ArrayTaskSource([task]), executor: nil)
        let p = try trainer.prepare(ts)
        let batch = try trainer.pack(Array(ts.indices), p)
        let h = try m.policy.hidden(tokens: batch.inputs, layout: batch.attentionLayout)
        let logp = try headLogProbs(h, m.policy.outputHead, targets: batch.targets, temperature: 1)
        for i in 0..<batch.count where batch.mask[i] != 0 {
            XCTAssertEqual(expf(logp.array[i] - batch.oldLogProbs[i]), 1, accuracy: 1e-4, "row \(i)")
        }
        let (loss, _) = try policyLoss(logp, batch: batch, config: c.loss, normalizer: try lossNormalizer(c.loss, batches: [batch]))
        try loss.backward()
        let g = h.gradArray!, d = h.shape[1]
        var zero = (tool: 0, prompt: 0), policyRows = 0
        XCTAssertGreaterThan(batch.prefixes.compactMap { $0 }.count, 0, "the group's samples share their prompt's rows")
        for k in batch.sequences.indices {
            for j in 0..<(ts[k].tokens.count - 1) {
                let i = batch.row(sequence: k, predicting: j)
                let row = g[(i * d)..<((i + 1) * d)]
                switch ts[k].roles[j + 1] {   // row j predicts token j + 1
                case .tool: XCTAssertTrue(row.allSatisfy { $0 == 0 }, "tool row \(i)"); zero.tool += 1
                case .prompt: XCTAssertTrue(row.allSatisfy { $0 == 0 }, "prompt row \(i)"); zero.prompt += 1
                case .policy: XCTAssertTrue(row.contains { $0 != 0 }, "policy row \(i)"); policyRows += 1
                }
            }
        }
        XCTAssertGreaterThan(zero.tool, 5)
        XCTAssertGreaterThan(zero.prompt, 50)
        XCTAssertGreaterThan(policyRows, 10)
    }

    /// SimpleTIR's round trip on a real tokenizer: a turn sampled in pieces (each encoded alone, not how the
    /// tokenizer encodes the whole) comes back re-encoded, and every re-encoded token that enters the loss has
    /// ratio 1 on-policy: its behaviour log-prob is the sampler's, scored when the new ids were fed.
    func testRetokenizedTurnIsOnPolicy() async throws {
        let m = try model()
        let tok = m.tokenizer, end = try XCTUnwrap(tok.eos.min())
        let pieces = "```python\nprint(6*7)\n```\n".map(String.init)     // one character at a time
        let sampled = pieces.flatMap { tok.encode($0) }
        let whole = tok.encode(pieces.joined())
        XCTAssertNotEqual(sampled, whole, "the pieces must not be the tokenizer's own encoding")
        var rc = RolloutConfig()
        rc.maxToolCalls = 1
        rc.retokenizeTurns = true
        let engine = try EpisodeEngine(config: rc, reward: ToRLReward(), tokenizer: tok, prompt: try PromptTemplate(model: m, config: rc))
        let source = PolicyTokenSource(policy: m.policy, params: SamplingParams(), seed: 1,
                                       script: [sampled + tok.encode("\\boxed{42}") + [end]])
        let (ts, stats) = try await engine.run(tasks: [task], groupSize: 1, source: source, executor: PrintsFortyTwo(),
                                               contextLimit: m.policy.config.context)
        XCTAssertEqual(stats.retokenizedTurns, 1)
        let t = ts[0]
        XCTAssertEqual(Array(t.tokens[t.turns[0].policyRange]), whole)
        var c = GRPOConfig()
        c.promptsPerStep = 1; c.groupSize = 2; c.miniBatches = 1; c.microBatch = 2; c.advantage = .drGRPO
        c.filter.voidTurns = false; c.rollout = rc
        let trainer = try GRPOTrainer(config: c, model: m, tasks: ArrayTaskSource([task]), executor: nil)
        var withSignal = t
        withSignal.reward = 1
        var without = t
        without.reward = 0
        let p = try trainer.prepare([withSignal, without])
        let batch = try trainer.pack([0, 1], p)
        let logp = try noGrad { try trainer.forward(batch) }.array
        var checked = 0
        for i in 0..<batch.count where batch.mask[i] != 0 {
            XCTAssertEqual(expf(logp[i] - batch.oldLogProbs[i]), 1, accuracy: 1e-4, "row \(i)")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, whole.count)
    }

    /// A trainer step samples in the chat format and its checkpoint is a complete Hugging Face directory
    /// (tokenizer and chat template included) that loads back as the same model.
    func testTrainStepAndCheckpointOfARealArchitecture() async throws {
        let m = try model()
        var c = GRPOConfig()
        c.promptsPerStep = 2; c.groupSize = 2; c.miniBatches = 1; c.microBatch = 2; c.microBatchTokens = 300
        c.rollout.maxToolCalls = 1; c.rollout.maxTurnTokens = 16; c.rollout.maxTrajectoryTokens = 32
        c.optimizer.lr = 1e-3; c.filter.voidTurns = false
        let tasks = ArithmeticTasks(seed: 1, difficulty: 1).train
        let trainer = try GRPOTrainer(config: c, model: m, tasks: tasks, executor: PrintsFortyTwo())
        let metrics = try await trainer.trainStep()
        XCTAssertEqual(metrics["step"], 1)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tir-chat-ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try TrainCheckpoint.write(trainer.model, optimizer: trainer.optimizer, state: trainer.state, into: dir)
        for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
                     "optimizer.safetensors", "trainer_state.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), file)
        }
        let back = try LanguageModel.load(dir)
        XCTAssertEqual(back.policy.config, m.policy.config)
        XCTAssertEqual(back.chatTemplate, m.chatTemplate)
        XCTAssertEqual(back.tokenizer.encode("What is 6 times 7?"), m.tokenizer.encode("What is 6 times 7?"))
        XCTAssertEqual(Array(UnsafeBufferPointer(start: back.policy.arena.data, count: back.policy.arena.count)),
                       Array(UnsafeBufferPointer(start: m.policy.arena.data, count: m.policy.arena.count)))
    }
}

/// Runs every code block as printing "42".
final class PrintsFortyTwo: CodeExecutor {
    func execute(_ codes: [String]) async -> [CodeOutcome] {
        codes.map { _ in CodeOutcome(status: .ok, stdout: "42\n", stderr: "") }
    }
}
