import XCTest
import Rollout
@testable import GRPO

final class BatchMetricsTests: XCTestCase {
    func testRangesRatiosAndLossStatistics() throws {
        // 0: two turns (code that ran, then an answer); 1: one code turn that failed, then an answer, cut by a
        // token limit; 2: one void turn, filtered (mask all 0).
        let a = makeTrajectory(group: 0, roles: [.prompt, .policy, .policy, .tool, .policy], reward: 1)
        var b = makeTrajectory(group: 0, roles: [.prompt, .policy, .tool, .policy, .policy, .policy], reward: -1,
                               finish: .tokenLimit)
        b.turns[0].execution = .error
        let c = makeTrajectory(group: 1, roles: [.prompt, .policy], reward: 0.5, void: true)
        let masks: [[Float]] = [[0, 1, 1, 0, 1], [0, 1, 0, 1, 0, 0], [0, 0]]
        var loss = PolicyLossStats()
        loss.maskedTokens = 10; loss.clippedLow = 1; loss.clippedHigh = 2; loss.klK1Sum = 0.5
        let m = try batchMetrics([a, b, c], advantages: [2, -1, 7], masks: masks, loss: loss)

        XCTAssertEqual(m["critic/score/max"], 1)
        XCTAssertEqual(m["critic/score/min"], -1)
        XCTAssertEqual(m["critic/rewards/min"], -1)
        // Token-weighted over loss tokens: (2 * 3 + -1 * 2) / 5; the filtered trajectory's 7 is not trained on.
        XCTAssertEqual(m["critic/advantages/mean"]!, 0.8, accuracy: 1e-12)
        XCTAssertEqual(m["critic/advantages/max"], 2)
        XCTAssertEqual(m["critic/advantages/min"], -1)
        XCTAssertEqual(m["response_length/max"], 4)
        XCTAssertEqual(m["response_length/min"], 1)
        XCTAssertEqual(m["response_length/clip_ratio"]!, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(m["num_turns/max"], 2)
        XCTAssertEqual(m["num_turns/min"], 1)
        // Code turns / turns: 1/2, 1/2, 0/1; code that ran: 1/2, 0, 0.
        XCTAssertEqual(m["env/code_use_ratio"]!, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(m["env/valid_code_ratio"]!, 1.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(m["actor/pg_clipfrac"]!, 0.3, accuracy: 1e-12)
        XCTAssertEqual(m["actor/ppo_kl"]!, 0.05, accuracy: 1e-12)

        XCTAssertThrowsError(try batchMetrics([a], advantages: [1, 2], masks: [masks[0]], loss: loss))
        XCTAssertThrowsError(try batchMetrics([], advantages: [], masks: [], loss: loss))
    }
}
