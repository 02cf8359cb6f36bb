import XCTest
@testable import Rollout

final class RewardTests: XCTestCase {
    func testSchemes() {
        let right = RewardInput(correct: true, toolCalls: 1, anyCodeSucceeded: true)
        let wrong = RewardInput(correct: false, toolCalls: 1, anyCodeSucceeded: true)
        let rightNoCode = RewardInput(correct: true, toolCalls: 0, anyCodeSucceeded: false)
        let wrongFailedCode = RewardInput(correct: false, toolCalls: 2, anyCodeSucceeded: false)

        XCTAssertEqual(ToRLReward().reward(right), 1)
        XCTAssertEqual(ToRLReward().reward(wrong), -1)
        XCTAssertEqual(SimpleTIRReward().reward(right), 1)
        XCTAssertEqual(SimpleTIRReward().reward(wrong), 0)

        let exec = ExecutabilityPenalty(ToRLReward())
        XCTAssertEqual(exec.reward(right), 1)
        XCTAssertEqual(exec.reward(wrong), -1)
        XCTAssertEqual(exec.reward(rightNoCode), 0.5)
        XCTAssertEqual(exec.reward(wrongFailedCode), -1.5)
        let onlyFailed = ExecutabilityPenalty(SimpleTIRReward(), onlyWhenCodeFailed: true)
        XCTAssertEqual(onlyFailed.reward(rightNoCode), 1)
        XCTAssertEqual(onlyFailed.reward(wrongFailedCode), -0.5)
        XCTAssertEqual(exec.name, "torl+exec")
    }

    func testByNameAndCustomScheme() throws {
        for name in rewardSchemeNames { XCTAssertEqual(try rewardScheme(named: name).name, name) }
        XCTAssertThrowsError(try rewardScheme(named: "nope")) { e in
            XCTAssertTrue("\(e)".contains("torl"), "the error lists the valid names")
        }
        struct ShortAnswerBonus: RewardScheme {
            var name: String { "custom" }
            func reward(_ input: RewardInput) -> Float { (input.correct ? 1 : 0) + (input.toolCalls == 1 ? 0.1 : 0) }
        }
        let schemes: [any RewardScheme] = [ShortAnswerBonus(), ExecutabilityPenalty(ShortAnswerBonus())]
        XCTAssertEqual(schemes[1].reward(RewardInput(correct: true, toolCalls: 1, anyCodeSucceeded: false)), 0.6, accuracy: 1e-6)
    }

    func testInputFromTrajectory() {
        let turns = [Turn(policyRange: 3..<10, observationRange: 10..<14, hasCode: true, hasAnswer: false, isVoid: false, execution: .error),
                     Turn(policyRange: 14..<20, observationRange: 20..<22, hasCode: true, hasAnswer: false, isVoid: false, execution: .ok),
                     Turn(policyRange: 22..<30, hasCode: false, hasAnswer: true, isVoid: false)]
        let t = Trajectory(taskId: "t", group: 0, tokens: Array(repeating: 0, count: 30), roles: Array(repeating: .policy, count: 30),
                           samplingLogProbs: Array(repeating: 0, count: 30), turns: turns, toolCalls: 2, finish: .answer,
                           answer: "5", correct: true, reward: 0)
        let input = RewardInput(t)
        XCTAssertEqual(input, RewardInput(correct: true, hasAnswer: true, toolCalls: 2, anyCodeSucceeded: true, hasVoidTurn: false,
                                           finish: .answer, responseTokens: 30))
        let g = gradeAnswer(policyText: "```python\nprint(2+3)\n```\nThe answer is \\boxed{5.0}.", reference: "5")
        XCTAssertEqual(g.answer, "5.0")
        XCTAssertTrue(g.correct)
        XCTAssertFalse(gradeAnswer(policyText: "no answer", reference: "5").correct)
    }
}
