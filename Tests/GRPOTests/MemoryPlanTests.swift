import XCTest
import Model
import Rollout
import Tensor
@testable import GRPO

/// The memory plan: its parts by hand on a small shape, a budget that sizes micro-batches, and the refusal
/// that names the figure and the knobs.
final class MemoryPlanTests: XCTestCase {
    let shape = PolicyConfig(dim: 64, layers: 2, heads: 4, ffn: 256, context: 1024)

    func testPartsByHand() throws {
        var c = GRPOConfig()
        c.promptsPerStep = 2; c.groupSize = 4; c.microBatch = 8; c.microBatchTokens = 0
        c.rollout.maxTrajectoryTokens = 72
        let plan = MemoryPlan.of(c, model: shape)
        let p = shape.parameterLayout.reduce(0) { $0 + $1.shape.reduce(1, *) }
        XCTAssertEqual(plan.parameters, p)
        XCTAssertEqual(plan.fixedBytes, 16 * p)
        let length = 128 + 72
        let kv = 8 * length * 2 * 2 * 4 * 16 * 4   // slots x len x layers x K,V x heads x hd x 4 B
        XCTAssertEqual(plan.rolloutBytes, kv, "8 slots: the fp32 sampler reads the policy in place")
        XCTAssertEqual(plan.activationBytesPerToken, 2 * 4 * 2 * (7 * 64 + 3 * 256 + 2 * 3 * 64 + 4 * length) + 4 * 64)
        XCTAssertEqual(plan.microBatchTokens, 8 * length, "no cap: microBatch sequences of the planned length")
        XCTAssertEqual(plan.peakBytes, plan.fixedBytes + max(plan.rolloutBytes, plan.updateBytes))
        c.rolloutWeights = .bf16
        XCTAssertEqual(MemoryPlan.of(c, model: shape).rolloutBytes, kv + 2 * p, "the bf16 sampler's panels")
        c.rolloutWeights = .fp32; c.groupSize = 8
        XCTAssertEqual(MemoryPlan.of(c, model: shape).rolloutBytes, 2 * kv + (Kernels.useAVX512 ? 4 * p : 0),
                       "16 slots: the fp32 sampler's panels, on AVX-512")
        c.groupSize = 4
        c.rolloutWeights = .fp32
        c.kl.beta = 0.1
        XCTAssertEqual(MemoryPlan.of(c, model: shape).fixedBytes, 20 * p, "the KL reference is a copy of the weights")
        c.microBatchTokens = 300
        XCTAssertEqual(MemoryPlan.of(c, model: shape).microBatchTokens, 300)
    }

    func testBudgetSizesMicroBatchesAndTheRefusalNamesTheKnobs() throws {
        var c = GRPOConfig()
        c.rollout.maxTrajectoryTokens = 72
        let fixed = MemoryPlan.of(c, model: shape).fixedBytes
        let perToken = MemoryPlan.of(c, model: shape).activationBytesPerToken
        c.memoryBudgetGB = Double(fixed + 1000 * perToken) / 1e9
        let plan = MemoryPlan.of(c, model: shape)
        XCTAssertEqual(plan.microBatchTokens, 1000)
        XCTAssertLessThanOrEqual(plan.fixedBytes + plan.updateBytes, Int(c.memoryBudgetGB * 1e9))
        c.memoryBudgetGB = 1e-9
        XCTAssertEqual(MemoryPlan.of(c, model: shape).microBatchTokens, 200, "never less than one sequence")

        XCTAssertNoThrow(try plan.check(available: plan.peakBytes))
        XCTAssertThrowsError(try plan.check(available: plan.peakBytes - 1)) { error in
            let m = "\(error)"
            for knob in ["microBatchTokens", "promptsPerStep x groupSize", "rollout.maxTrajectoryTokens", "memoryBudgetGB"] {
                XCTAssertTrue(m.contains(knob), m)
            }
        }
    }

    /// The trainer's micro-batches honour the cap and sort by length.
    func testMicroBatchesAreSortedAndCapped() throws {
        var c = GRPOConfig()
        c.promptsPerStep = 1; c.groupSize = 6; c.microBatch = 4; c.microBatchTokens = 50
        let policy = try Policy(config: PolicyConfig(dim: 8, layers: 1, heads: 2, ffn: 8, context: 64), seed: 1)
        let trainer = try GRPOTrainer(config: c, policy: policy, tasks: ArrayTaskSource([]), executor: nil)
        let lengths = [10, 30, 20, 12, 11, 25]
        let ts = lengths.enumerated().map { i, n in
            makeTrajectory(group: 0, roles: Array(repeating: .prompt, count: 2) + Array(repeating: .policy, count: n - 2),
                           reward: Float(i % 2), offset: i)
        }
        let p = try trainer.prepare(ts)
        let batches = trainer.microBatches(Array(ts.indices), p)
        XCTAssertEqual(batches, [[1], [5, 2], [3, 4, 0]], "longest first; 2 x 25 <= 50, 3 x 12 <= 50, 4 x 12 > 50")
        for b in batches { XCTAssertLessThanOrEqual(b.count * b.map { lengths[$0] }.max()!, 50) }
    }
}
