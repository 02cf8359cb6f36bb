import XCTest
import Model
import Rollout
import Tensor
import ToyWorld
@testable import GRPO

/// The instability levers through the real trainer on a tiny policy (no code execution).
final class LeverTests: XCTestCase {
    func trainer(_ edit: (inout GRPOConfig) -> Void) throws -> GRPOTrainer {
        let p = try Policy(config: PolicyConfig(dim: 16, layers: 1, heads: 2, ffn: 24, context: 96), seed: 11)
        for j in 0..<16 { p.arena.data[Int(ByteTokenizer.eos) * 16 + j] = 1 }   // EOS common: lengths vary
        var c = GRPOConfig()
        c.steps = 2; c.promptsPerStep = 2; c.groupSize = 4; c.miniBatches = 2; c.microBatch = 2
        c.rollout.maxTurnTokens = 10; c.rollout.maxTrajectoryTokens = 10; c.filter.voidTurns = false; c.optimizer.lr = 2e-3; c.seed = 5
        edit(&c)
        return try GRPOTrainer(config: c, policy: p, tasks: ToyWorld(seed: 1).trainSource, executor: nil,
                               reward: EvenLengthReward())
    }

    func testPPOEpochsMultiplyTheUpdates() async throws {
        let t = try trainer { $0.ppoEpochs = 3 }
        let m = try await t.trainStep()
        XCTAssertEqual(t.optimizer.step, 2 * 3)
        XCTAssertEqual(m["computed_fraction"]!, 1, accuracy: 1e-12, "every trajectory once per epoch (EvenLength gives signal)")
    }

    /// fp32 sampler = trainer up to kernel rounding; a bf16 copy of the weights (and cache) is measurably off,
    /// and TIS reweights by exactly that mismatch.
    func testReducedPrecisionRolloutShowsAsMismatch() async throws {
        let exact = try await trainer { $0.correction.recomputeOldLogProbs = true }.trainStep()
        XCTAssertLessThan(exact["training/rollout_probs_diff_max"]!, 1e-5)
        XCTAssertGreaterThan(exact["training/rollout_actor_probs_pearson_corr"]!, 0.99999)
        XCTAssertNil(exact["rollout_corr/rollout_is_mean"], "no correction, no rollout_corr metrics")
        let bf16 = try await trainer {
            $0.correction.recomputeOldLogProbs = true; $0.rolloutWeights = .bf16; $0.rolloutKVCache = .bf16; $0.correction.mode = .tis
        }.trainStep()
        XCTAssertGreaterThan(bf16["training/rollout_probs_diff_max"]!, 1e-4)
        XCTAssertNotEqual(bf16["rollout_corr/rollout_is_mean"]!, 1)
        XCTAssertLessThanOrEqual(bf16["rollout_corr/rollout_is_max"]!, 2)
        let plain = try await trainer { _ in }.trainStep()
        XCTAssertNil(plain["training/rollout_probs_diff_max"], "only with recomputed old log-probs")
    }

    func testLeverValidation() {
        var c = GRPOConfig()
        c.correction.mode = .mis
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("recomputeOldLogProbs")) }
        c.correction.recomputeOldLogProbs = true
        XCTAssertNoThrow(try c.validate())
        c.ppoEpochs = 0
        XCTAssertThrowsError(try c.validate())
        XCTAssertThrowsError(try GRPOConfig.load(json: Data(), overrides: ["rolloutWeights=fp8"]))
        XCTAssertEqual(try GRPOConfig.load(json: Data(), overrides: ["rolloutWeights=bf16", "rollout.observationStyle=simpletir"]).rolloutWeights, .bf16)
    }
}
