import XCTest
@testable import Rollout

final class TrajectoryStatsTests: XCTestCase {
    private func trajectory(policyTokens: Int, turns: [Turn], correct: Bool) -> Trajectory {
        let roles = [TokenRole.prompt] + Array(repeating: .policy, count: policyTokens) + [.tool]
        return Trajectory(taskId: "t", group: 0, tokens: Array(repeating: 1, count: roles.count), roles: roles,
                          samplingLogProbs: Array(repeating: 0, count: roles.count), turns: turns,
                          toolCalls: turns.filter { $0.execution != .none }.count, finish: .answer, answer: nil,
                          correct: correct, reward: correct ? 1 : -1)
    }

    /// The numbers evaluation reports and GRPO logs, by hand for three trajectories.
    func testStatsByHand() {
        let ok = Turn(policyRange: 0..<1, hasCode: true, hasAnswer: false, isVoid: false, execution: .ok)
        let err = Turn(policyRange: 0..<1, hasCode: true, hasAnswer: false, isVoid: false, execution: .error)
        let answer = Turn(policyRange: 0..<1, hasCode: false, hasAnswer: true, isVoid: false)
        let void = Turn(policyRange: 0..<1, hasCode: false, hasAnswer: false, isVoid: true)
        let s = TrajectoryStats([trajectory(policyTokens: 4, turns: [ok, answer], correct: true),
                                 trajectory(policyTokens: 2, turns: [err, ok, answer], correct: false),
                                 trajectory(policyTokens: 6, turns: [void], correct: false)])
        XCTAssertEqual(s.count, 3)
        XCTAssertEqual(s.accuracy, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(s.toolCallRate, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(s.meanToolCalls, 1, accuracy: 1e-12)
        XCTAssertEqual(s.meanTurns, 2, accuracy: 1e-12)
        XCTAssertEqual(s.voidTurnRate, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(s.execErrorRate, 1.0 / 3, accuracy: 1e-12, "1 of 3 executed blocks failed")
        XCTAssertEqual(s.policyTokens, 12)
        XCTAssertEqual(s.meanLength, 4, accuracy: 1e-12)
        XCTAssertEqual(TrajectoryStats([]), TrajectoryStats([]))
        XCTAssertEqual(TrajectoryStats([]).count, 0)
    }
}
