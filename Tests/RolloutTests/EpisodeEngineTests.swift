import Foundation
import XCTest
import Model
import Sandbox
import SandboxExecutor
import Tensor
@testable import Rollout

/// The TIR episode engine with a scripted stand-in policy (no training): token provenance, observation
/// insertion, the KV cache after a prefill, void turns and limits, answers, rewards and determinism.
final class EpisodeEngineTests: XCTestCase {
    let tokenizer = ByteTokenizer()
    let format = EpisodeFormat()
    let eos = ByteTokenizer.eos

    // MARK: - Helpers

    func task(_ id: String, _ question: String, _ answer: String) -> MathTask {
        MathTask(id: id, question: question, answer: answer, kind: "test", steps: 1)
    }

    /// BOS + "Question: <q>\n": what the engine must put in front of every trajectory.
    func promptTokens(_ t: MathTask) -> [Int32] { [ByteTokenizer.bos] + tokenizer.encode(format.prompt(t.question)) }

    /// What the runner inserts for an observation text ("```output\n<obs>\n```\n").
    func observationTokens(_ observation: String) -> [Int32] { tokenizer.encode(format.observationBlock(observation)) }

    func config(toolCalls: Int = 1, turnTokens: Int = 160, trajectoryTokens: Int = 384, cap: Int = 256,
                executeCode: Bool = true) -> RolloutConfig {
        var c = RolloutConfig()
        c.maxToolCalls = toolCalls
        c.maxTurnTokens = turnTokens
        c.maxTrajectoryTokens = trajectoryTokens
        c.observationCap = cap
        c.executeCode = executeCode
        return c
    }

    /// Runs the engine with a ScriptedTokenSource (slot i emits scripts[i]) and ToRL rewards; checks the
    /// invariants every trajectory must satisfy.
    func run(_ tasks: [MathTask], groupSize: Int = 1, scripts: [[Int32]], executor: CodeExecutor?,
             config: RolloutConfig = RolloutConfig(), contextLimit: Int = 1024,
             file: StaticString = #filePath, line: UInt = #line) async throws -> (trajectories: [Trajectory], source: ScriptedTokenSource) {
        let engine = try EpisodeEngine(config: config, reward: ToRLReward())
        let source = ScriptedTokenSource(script: scripts)
        let (ts, stats) = try await engine.run(tasks: tasks, groupSize: groupSize, source: source, executor: executor,
                                               contextLimit: contextLimit)
        XCTAssertEqual(ts.count, tasks.count * groupSize, file: file, line: line)
        XCTAssertEqual(stats.trajectories, ts.count, file: file, line: line)
        XCTAssertEqual(stats.policyTokens, ts.map(\.policyTokenCount).reduce(0, +), file: file, line: line)
        for (i, t) in ts.enumerated() {
            assertConsistent(t, prompt: promptTokens(tasks[i / groupSize]), fed: source.fed[i], config: config,
                             contextLimit: contextLimit, slot: i, file: file, line: line)
        }
        return (ts, source)
    }

    /// Invariants of any finished trajectory, whatever the script.
    func assertConsistent(_ t: Trajectory, prompt: [Int32], fed: [Int32]?, config: RolloutConfig, contextLimit: Int,
                          slot: Int, file: StaticString = #filePath, line: UInt = #line) {
        let at = "slot \(slot)"
        XCTAssertEqual(t.tokens.count, t.roles.count, at, file: file, line: line)
        XCTAssertEqual(t.tokens.count, t.samplingLogProbs.count, at, file: file, line: line)
        XCTAssertEqual(Array(t.tokens.prefix(prompt.count)), prompt, "\(at): prompt tokens = BOS + encoded prompt", file: file, line: line)
        XCTAssertEqual(Array(t.roles.prefix(prompt.count)), Array(repeating: .prompt, count: prompt.count), at, file: file, line: line)
        XCTAssertEqual(t.samplingLogProbs.first, 0, "\(at): BOS follows nothing and has no behaviour log-prob", file: file, line: line)
        XCTAssertTrue(t.samplingLogProbs.allSatisfy { $0.isFinite && $0 <= 0 }, "\(at): log-probs must be finite and <= 0", file: file, line: line)
        // The source was fed exactly the trajectory minus its last (sampled, never fed) token: every
        // observation went into this slot's cache right where it sits in the record, nothing is missing.
        if let fed {
            XCTAssertEqual(fed, Array(t.tokens.dropLast()), "\(at): tokens fed to the policy differ from the record", file: file, line: line)
        }
        // Turns tile everything after the prompt: policy range, then its observation, then the next turn.
        var cursor = prompt.count
        var policyPositions: [Int] = [], toolPositions: [Int] = []
        for (k, turn) in t.turns.enumerated() {
            XCTAssertEqual(turn.policyRange.lowerBound, cursor, "\(at): turn \(k) does not start where the last one ended", file: file, line: line)
            XCTAssertFalse(turn.policyRange.isEmpty, "\(at): empty turn \(k)", file: file, line: line)
            policyPositions += Array(turn.policyRange)
            cursor = turn.policyRange.upperBound
            if let o = turn.observationRange {
                XCTAssertEqual(o.lowerBound, cursor, "\(at): observation of turn \(k) not right after it", file: file, line: line)
                XCTAssertNotEqual(turn.execution, .none, "\(at): observation without execution", file: file, line: line)
                toolPositions += Array(o)
                cursor = o.upperBound
            }
        }
        XCTAssertEqual(cursor, t.tokens.count, "\(at): turns do not cover the trajectory", file: file, line: line)
        XCTAssertEqual(policyPositions, t.roles.indices.filter { t.roles[$0] == .policy }, "\(at): policy roles", file: file, line: line)
        XCTAssertEqual(toolPositions, t.roles.indices.filter { t.roles[$0] == .tool }, "\(at): tool roles", file: file, line: line)
        XCTAssertEqual(t.toolCalls, t.turns.filter { $0.execution != .none }.count, "\(at): tool calls", file: file, line: line)
        XCTAssertLessThanOrEqual(t.toolCalls, config.maxToolCalls, at, file: file, line: line)
        XCTAssertLessThanOrEqual(t.tokens.count - prompt.count, config.maxTrajectoryTokens, at, file: file, line: line)
        XCTAssertLessThanOrEqual(t.tokens.count, contextLimit, at, file: file, line: line)
        for turn in t.turns { XCTAssertLessThanOrEqual(turn.policyRange.count, config.maxTurnTokens, at, file: file, line: line) }
        XCTAssertEqual(t.reward, t.correct ? 1 : -1, "\(at): ToRL reward", file: file, line: line)
    }

    /// Builds the expected token/role record piece by piece.
    struct Expected {
        var tokens: [Int32] = []
        var roles: [TokenRole] = []
        @discardableResult
        mutating func add(_ toks: [Int32], _ role: TokenRole) -> Range<Int> {
            let from = tokens.count
            tokens += toks
            roles += Array(repeating: role, count: toks.count)
            return from..<tokens.count
        }
    }

    func text(_ t: Trajectory, _ range: Range<Int>?) -> String {
        guard let range else { return "<none>" }
        return tokenizer.decode(Array(t.tokens[range]))
    }

    // MARK: - Roles and observation insertion

    func testSingleToolCallRolesAreExactTokenByToken() async throws {
        let t = task("t0", "What is 6*7?", "42")
        let turn1 = "Let me compute.\n```python\nprint(6*7)\n```\n"
        let turn2 = "The answer is \\boxed{42}."
        let executor = FakeExecutor(["print(6*7)": FakeExecutor.ok("42\n")])
        let (ts, source) = try await run([t], scripts: [tokenizer.encode(turn1 + turn2) + [eos]], executor: executor)
        let tr = ts[0]

        var e = Expected()
        e.add(promptTokens(t), .prompt)
        let p1 = e.add(tokenizer.encode(turn1), .policy)
        let o1 = e.add(observationTokens("42"), .tool)
        let p2 = e.add(tokenizer.encode(turn2) + [eos], .policy)
        XCTAssertEqual(tr.tokens, e.tokens)
        XCTAssertEqual(tr.roles, e.roles)
        XCTAssertEqual(text(tr, o1), "```output\n42\n```\n")
        // The policy was fed the observation in that slot, right after the turn's closing newline.
        XCTAssertEqual(Array(source.fed[0][(o1.lowerBound - 1)...]), tokenizer.encode("\n") + observationTokens("42")
                       + Array(tokenizer.encode(turn2)))
        XCTAssertEqual(tr.turns, [
            Turn(policyRange: p1, observationRange: o1, hasCode: true, hasAnswer: false, isVoid: false, execution: .ok),
            Turn(policyRange: p2, hasCode: false, hasAnswer: true, isVoid: false),
        ])
        XCTAssertEqual(tr.samplingLogProbs, Array(repeating: 0, count: e.tokens.count))   // the scripted source reports 0
        XCTAssertEqual(tr.toolCalls, 1)
        XCTAssertEqual(tr.finish, .answer)
        XCTAssertEqual(tr.answer, "42")
        XCTAssertTrue(tr.correct)
        XCTAssertEqual(tr.reward, 1)
        XCTAssertEqual(tr.group, 0)
        XCTAssertEqual(tr.taskId, "t0")
        XCTAssertEqual(executor.batches, [["print(6*7)"]])
    }

    func testMultiTurnObservationsStatusesAndConcurrentExecution() async throws {
        let t0 = task("t0", "What is 2+3?", "5"), t1 = task("t1", "What is 10-4?", "6")
        let codeA = "x = 2+3\nprint(x)", codeB = "print(y)", codeC = "z = 5", codeD = "print(10-4)"
        let traceback = "Traceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\nNameError: name 'y' is not defined\n"
        let executor = FakeExecutor([codeA: FakeExecutor.ok("5\n"), codeB: FakeExecutor.error(traceback),
                                     codeC: FakeExecutor.ok(""), codeD: FakeExecutor.ok("6\n")])
        // slot 0: three tool calls (ok, error, ok with no output), then the answer.
        let s0 = [format.codeBlock(codeA), "Check.\n" + format.codeBlock(codeB), format.codeBlock(codeC), "So \\boxed{5}."]
        // slot 1: the same first turn (closes on the same step as slot 0's), then a wrong answer.
        let s1 = [format.codeBlock(codeA), "The answer is \\boxed{6}."]
        // slot 2: answers directly; slot 3: one tool call, then the answer.
        let s2 = ["\\boxed{6}"]
        let s3 = [format.codeBlock(codeD), "\\boxed{6}"]
        let scripts = [s0, s1, s2, s3].map { tokenizer.encode($0.joined()) + [eos] }
        let (ts, _) = try await run([t0, t1], groupSize: 2, scripts: scripts, executor: executor, config: config(toolCalls: 3))

        // Slot 0, token by token.
        var e = Expected()
        e.add(promptTokens(t0), .prompt)
        let p1 = e.add(tokenizer.encode(s0[0]), .policy), o1 = e.add(observationTokens("5"), .tool)
        let p2 = e.add(tokenizer.encode(s0[1]), .policy), o2 = e.add(observationTokens("NameError: name 'y' is not defined"), .tool)
        let p3 = e.add(tokenizer.encode(s0[2]), .policy), o3 = e.add(observationTokens(emptyObservation), .tool)
        let p4 = e.add(tokenizer.encode(s0[3]) + [eos], .policy)
        XCTAssertEqual(ts[0].tokens, e.tokens)
        XCTAssertEqual(ts[0].roles, e.roles)
        XCTAssertEqual(ts[0].turns, [
            Turn(policyRange: p1, observationRange: o1, hasCode: true, hasAnswer: false, isVoid: false, execution: .ok),
            Turn(policyRange: p2, observationRange: o2, hasCode: true, hasAnswer: false, isVoid: false, execution: .error),
            Turn(policyRange: p3, observationRange: o3, hasCode: true, hasAnswer: false, isVoid: false, execution: .ok),
            Turn(policyRange: p4, hasCode: false, hasAnswer: true, isVoid: false),
        ])
        XCTAssertEqual(text(ts[0], o2), "```output\nNameError: name 'y' is not defined\n```\n")
        XCTAssertEqual(text(ts[0], o3), "```output\n(no output)\n```\n")
        XCTAssertEqual(ts.map(\.toolCalls), [3, 1, 0, 1])
        XCTAssertEqual(ts.map(\.turns.count), [4, 2, 1, 2])
        XCTAssertEqual(ts.map(\.finish), [.answer, .answer, .answer, .answer])
        XCTAssertEqual(ts.map(\.answer), ["5", "6", "6", "6"])
        XCTAssertEqual(ts.map(\.correct), [true, false, true, true])
        XCTAssertEqual(ts.map(\.reward), [1, -1, 1, 1])
        XCTAssertEqual(ts.map(\.group), [0, 0, 1, 1])
        XCTAssertEqual(ts.map(\.taskId), ["t0", "t0", "t1", "t1"])
        XCTAssertEqual(text(ts[3], ts[3].turns[0].observationRange), "```output\n6\n```\n")
        // Codes that close on the same step run together in one batch; steps run in order.
        // (slot 3's block is 26 tokens, slot 0/1's first is 31, slot 0's next close 30 and 20 tokens later.)
        XCTAssertEqual(executor.batches, [[codeD], [codeA, codeA], [codeB], [codeC]])
    }

    func testLongObservationIsTruncatedToTheCap() async throws {
        let t = task("t0", "Print a lot", "0")
        let long = (0..<100).map { String($0 % 10) }.joined() + "\n"
        let executor = FakeExecutor(["print('x'*100)": FakeExecutor.ok(long)])
        let script = tokenizer.encode(format.codeBlock("print('x'*100)") + "\\boxed{0}") + [eos]
        let (ts, _) = try await run([t], scripts: [script], executor: executor, config: config(cap: 40))
        let o = try XCTUnwrap(ts[0].turns[0].observationRange)
        let shown = formatObservation(stdout: long, stderr: "", failed: false, cap: 40)
        XCTAssertEqual(shown.utf8.count, 40)
        XCTAssertTrue(shown.contains(observationTruncationMarker))
        XCTAssertEqual(Array(ts[0].tokens[o]), observationTokens(shown))
        XCTAssertEqual(o.count, "```output\n".count + 40 + "\n```\n".count)
    }

    /// An executor that loses results.
    final class LossyExecutor: CodeExecutor {
        func execute(_ codes: [String]) async -> [CodeOutcome] { [] }
    }

    func testExecutorReturningTooFewOutcomesIsAnError() async throws {
        let engine = try EpisodeEngine(config: RolloutConfig(), reward: ToRLReward())
        let script = tokenizer.encode(format.codeBlock("print(1)") + "\\boxed{1}") + [eos]
        do {
            _ = try await engine.run(tasks: [task("t0", "Q", "1")], groupSize: 1, source: ScriptedTokenSource(script: [script]),
                                     executor: LossyExecutor(), contextLimit: 1024)
            XCTFail("expected an error for an executor that returned no outcome")
        } catch let e as RolloutError {
            XCTAssertTrue(e.message.contains("0 outcomes for 1 code block"), e.message)
        }
    }

    // MARK: - Tool-call budget, executeCode

    func testCodeBlockBeyondTheToolCallBudgetEndsTheTrajectoryUnexecuted() async throws {
        let t = task("t0", "Q", "3")
        let executor = FakeExecutor(["print(1)": FakeExecutor.ok("1\n"), "print(2)": FakeExecutor.ok("2\n"),
                                     "print(3)": FakeExecutor.ok("3\n")])
        let turns = [format.codeBlock("print(1)"), format.codeBlock("print(2)"), "Once more.\n" + format.codeBlock("print(3)")]
        // Text after the third block must never be read.
        let script = tokenizer.encode(turns.joined() + "\\boxed{3}") + [eos]
        let (ts, source) = try await run([t], scripts: [script], executor: executor, config: config(toolCalls: 2))
        let tr = ts[0]
        XCTAssertEqual(executor.executed, ["print(1)", "print(2)"])
        XCTAssertEqual(tr.finish, .toolCallLimit)
        XCTAssertEqual(tr.toolCalls, 2)
        XCTAssertEqual(tr.turns.count, 3)
        XCTAssertEqual(tr.turns[2], Turn(policyRange: tr.turns[2].policyRange, hasCode: true, hasAnswer: false,
                                         isVoid: false, execution: .none))
        XCTAssertEqual(text(tr, tr.turns[2].policyRange), turns[2])
        XCTAssertEqual(tr.tokens.last, tokenizer.encode("\n")[0], "the trajectory ends at the closing fence")
        XCTAssertEqual(source.fed[0].count + 1, tr.tokens.count)
        XCTAssertNil(tr.answer)
        XCTAssertEqual(tr.reward, -1)
    }

    func testNoExecutionWhenBudgetIsZeroOrCodeIsOffOrThereIsNoExecutor() async throws {
        let t = task("t0", "Q", "1")
        let script = tokenizer.encode(format.codeBlock("print(1)") + "\\boxed{1}") + [eos]
        let cases: [(RolloutConfig, Bool)] = [(config(toolCalls: 0), true), (config(toolCalls: 5, executeCode: false), true),
                                              (config(toolCalls: 5), false)]
        for (c, withExecutor) in cases {
            let executor = FakeExecutor(["print(1)": FakeExecutor.ok("1\n")])
            let (ts, _) = try await run([t], scripts: [script], executor: withExecutor ? executor : nil, config: c)
            XCTAssertEqual(executor.batches.count, 0)
            XCTAssertEqual(ts[0].finish, .toolCallLimit)
            XCTAssertEqual(ts[0].toolCalls, 0)
            XCTAssertEqual(ts[0].turns.map(\.hasCode), [true])
            XCTAssertEqual(ts[0].turns.map(\.isVoid), [false])
            XCTAssertFalse(ts[0].roles.contains(.tool))
            XCTAssertNil(ts[0].answer)
        }
    }

    // MARK: - Void turns and limits

    func testTurnEndingWithEOSWithoutCodeOrAnswerIsVoid() async throws {
        let t = task("t0", "Q", "42")
        let executor = FakeExecutor(["print(1)": FakeExecutor.ok("1\n")])
        let scripts = [
            "I think it is 42.",                                   // no code, no \boxed: void
            format.codeBlock("print(1)") + "Hmm.",                 // second turn void
            "\\boxed{42}",                                         // an answer: not void
            "```python\nprint(1)\n```",                            // closing fence without newline: no block
        ].map { tokenizer.encode($0) + [eos] }
        let (ts, _) = try await run([t], groupSize: 4, scripts: scripts, executor: executor)
        XCTAssertEqual(ts.map(\.finish), [.voidTurn, .voidTurn, .answer, .voidTurn])
        XCTAssertEqual(ts.map { $0.turns.map(\.isVoid) }, [[true], [false, true], [false], [true]])
        XCTAssertEqual(ts.map { $0.turns.map(\.hasCode) }, [[false], [true, false], [false], [false]])
        XCTAssertEqual(ts.map(\.hasVoidTurn), [true, true, false, true])
        XCTAssertEqual(ts.map(\.reward), [-1, -1, 1, -1])
        XCTAssertEqual(ts.map { $0.tokens.last }, [eos, eos, eos, eos])
        XCTAssertEqual(executor.executed, ["print(1)"])
    }

    func testTurnCutByMaxTurnTokensIsVoid() async throws {
        let t = task("t0", "Q", "12345678")
        let executor = FakeExecutor(["print(7)": FakeExecutor.ok("7\n"), "print(12345678)": FakeExecutor.ok("12345678\n")])
        let block30 = format.codeBlock("print(12345678)")
        XCTAssertEqual(block30.utf8.count, 30)
        let scripts = [
            String(repeating: "a", count: 50),                              // cut at 30 tokens
            format.codeBlock("print(7)") + String(repeating: "b", count: 50), // the budget is per turn
            block30 + "\\boxed{12345678}",                                  // a block closing ON the 30th token still runs
        ].map { tokenizer.encode($0) + [eos] }
        let (ts, _) = try await run([t], groupSize: 3, scripts: scripts, executor: executor, config: config(turnTokens: 30))
        XCTAssertEqual(ts.map(\.finish), [.tokenLimit, .tokenLimit, .answer])
        XCTAssertEqual(ts[0].turns.map(\.policyRange.count), [30])
        XCTAssertEqual(ts[0].turns.map(\.isVoid), [true])
        XCTAssertEqual(text(ts[0], ts[0].turns[0].policyRange), String(repeating: "a", count: 30))
        XCTAssertEqual(ts[1].turns.map(\.policyRange.count), [23, 30])
        XCTAssertEqual(ts[1].turns.map(\.isVoid), [false, true])
        XCTAssertEqual(ts[2].turns.map(\.policyRange.count), [30, 17])
        XCTAssertEqual(ts[2].turns.map(\.execution), [.ok, .none])
        XCTAssertEqual(ts.map(\.reward), [-1, -1, 1])
        XCTAssertEqual(executor.executed, ["print(7)", "print(12345678)"])
    }

    func testMaxTrajectoryTokensCountsPolicyAndToolTokens() async throws {
        let t = task("t0", "Q", "7")
        let executor = FakeExecutor(["print(7)": FakeExecutor.ok("7\n")])
        let script = tokenizer.encode(format.codeBlock("print(7)") + String(repeating: "c", count: 100)) + [eos]
        let (ts, _) = try await run([t], scripts: [script], executor: executor, config: config(trajectoryTokens: 60))
        let tr = ts[0]
        // 23 policy + 16 tool tokens, then the second turn is cut when the trajectory reaches 60 new tokens.
        XCTAssertEqual(tr.tokens.count - promptTokens(t).count, 60)
        XCTAssertEqual(tr.turns.map(\.policyRange.count), [23, 21])
        XCTAssertEqual(tr.turns[0].observationRange?.count, 16)
        XCTAssertEqual(tr.turns.map(\.isVoid), [false, true])
        XCTAssertEqual(tr.finish, .tokenLimit)
    }

    func testObservationThatDoesNotFitEndsTheTrajectory() async throws {
        let t = task("t0", "Q", "7")
        let executor = FakeExecutor(["print(7)": FakeExecutor.ok("7\n")])
        let script = tokenizer.encode(format.codeBlock("print(7)") + "\\boxed{7}") + [eos]
        // 23 policy tokens + a 16-token observation do not fit in 30 new tokens.
        let (ts, _) = try await run([t], scripts: [script], executor: executor, config: config(trajectoryTokens: 30))
        XCTAssertEqual(ts[0].finish, .tokenLimit)
        XCTAssertFalse(ts[0].roles.contains(.tool))
        XCTAssertEqual(ts[0].turns.count, 1)
        XCTAssertNil(ts[0].turns[0].observationRange)
        XCTAssertEqual(ts[0].tokens.count, promptTokens(t).count + 23)
    }

    func testContextLimit() async throws {
        let short = task("s", "1+1?", "2"), long = task("l", "What is 1+1, exactly?", "2")
        let limit = promptTokens(long).count + 20
        let scripts = [short, long].map { _ in tokenizer.encode(String(repeating: "a", count: 200)) + [eos] }
        let (ts, _) = try await run([short, long], scripts: scripts, executor: FakeExecutor(), contextLimit: limit)
        // Every sequence (prompt included) stays within the context; both are cut there.
        XCTAssertEqual(ts.map(\.tokens.count), [limit, limit])
        XCTAssertEqual(ts.map(\.finish), [.tokenLimit, .tokenLimit])
        XCTAssertEqual(ts.map { $0.turns.map(\.isVoid) }, [[true], [true]])

        // A prompt that leaves no room is an error, not a crash.
        let engine = try EpisodeEngine(config: RolloutConfig(), reward: ToRLReward())
        do {
            _ = try await engine.run(tasks: [long], groupSize: 1, source: ScriptedTokenSource(script: [[eos]]),
                                     executor: nil, contextLimit: promptTokens(long).count)
            XCTFail("expected an error for a prompt that fills the context")
        } catch let e as RolloutError {
            XCTAssertTrue(e.message.contains("no room"), e.message)
        }
    }

    func testPolicyWritingTheOutputMarkerItself() async throws {
        let t = task("t0", "What is 2+2?", "4")
        let executor = FakeExecutor(["print(2+2)": FakeExecutor.ok("4\n")])
        let turn1 = "```python\nprint(2+2)\n```output"     // the marker closes the open block
        let scripts = [
            tokenizer.encode(turn1 + "\\boxed{4}") + [eos],
            tokenizer.encode("Let me run it.\n```output" + "\\boxed{4}") + [eos],   // marker without code: void
        ]
        let (ts, _) = try await run([t], groupSize: 2, scripts: scripts, executor: executor)

        var e = Expected()
        e.add(promptTokens(t), .prompt)
        let p1 = e.add(tokenizer.encode(turn1), .policy)
        let o1 = e.add(tokenizer.encode("\n4\n```\n"), .tool)               // the rest of the block, marker not repeated
        let p2 = e.add(tokenizer.encode("\\boxed{4}") + [eos], .policy)
        XCTAssertEqual(ts[0].tokens, e.tokens)
        XCTAssertEqual(ts[0].roles, e.roles)
        XCTAssertEqual(ts[0].turns, [
            Turn(policyRange: p1, observationRange: o1, hasCode: true, hasAnswer: false, isVoid: false, execution: .ok),
            Turn(policyRange: p2, hasCode: false, hasAnswer: true, isVoid: false),
        ])
        XCTAssertEqual(ts[0].finish, .answer)
        XCTAssertTrue(ts[0].correct)

        XCTAssertEqual(ts[1].finish, .voidTurn)
        XCTAssertEqual(ts[1].turns.map(\.isVoid), [true])
        XCTAssertEqual(text(ts[1], ts[1].turns[0].policyRange), "Let me run it.\n```output")
        XCTAssertNil(ts[1].answer)
        XCTAssertEqual(executor.executed, ["print(2+2)"])
    }

    // MARK: - Answers, rewards, groups

    func testAnswerIsTheLastBoxedInPolicyTextOnly() async throws {
        let t = task("t0", "Q", "42")
        // The code prints "\boxed{42}" without containing it (the policy's code is policy text).
        let source = "s = 'boxed{4'\nprint(chr(92) + s + '2}')"
        let executor = FakeExecutor([source: FakeExecutor.ok("\\boxed{42}\n")])
        let code = format.codeBlock(source)
        let scripts = [
            code + "I am not sure.",                         // \boxed only in the tool observation
            code + "No: \\boxed{41}.",                       // the policy's own answer counts
            "First \\boxed{1}, no wait: \\boxed{42.0}",      // the last one counts; 42.0 == 42
        ].map { tokenizer.encode($0) + [eos] }
        let (ts, _) = try await run([t], groupSize: 3, scripts: scripts, executor: executor)
        XCTAssertTrue(tokenizer.decode(ts[0].tokens).contains("\\boxed{42}"), "the observation holds a \\boxed")
        XCTAssertEqual(ts.map(\.answer), [nil, "41", "42.0"])
        XCTAssertEqual(ts.map(\.correct), [false, false, true])
        XCTAssertEqual(ts.map(\.reward), [-1, -1, 1])
        XCTAssertEqual(ts.map(\.finish), [.voidTurn, .answer, .answer])
    }

    func testGroupIdsFollowTaskIndex() async throws {
        let tasks = (0..<3).map { task("t\($0)", "What is \($0)+0?", "\($0)") }
        let g = 3
        // Sample g of task i answers "i" only when g == 1 (so each group holds one correct trajectory).
        let scripts = (0..<tasks.count * g).map { k in tokenizer.encode("\\boxed{\(k % g == 1 ? k / g : 99)}") + [eos] }
        let (ts, _) = try await run(tasks, groupSize: g, scripts: scripts, executor: nil)
        for (k, tr) in ts.enumerated() {
            XCTAssertEqual(tr.group, k / g)
            XCTAssertEqual(tr.taskId, "t\(k / g)")
            XCTAssertEqual(tr.reward, k % g == 1 ? 1 : -1)
        }
    }

    // MARK: - KV cache after a prefill (real policy, teacher forcing)

    /// A tiny random policy whose logits are far from uniform (std 0.3 weights), so a wrong cache shows.
    func tinyPolicy(seed: UInt64 = 3) throws -> Policy {
        let policy = try Policy(config: PolicyConfig(dim: 16, layers: 2, heads: 2, ffn: 20, context: 128), seed: seed)
        var rng = RNG(seed: seed &+ 1)
        for e in policy.arena.entries where e.shape.count == 2 { try policy.arena.fillNormal(e.name, std: 0.3, rng: &rng) }
        return policy
    }

    func testKVCacheContinuesCorrectlyAfterObservationPrefill() async throws {
        let policy = try tinyPolicy()
        let tasks = [task("a", "1+1?", "2"), task("b", "2*3?", "6")]
        let executor = FakeExecutor(["print(2)": FakeExecutor.ok("2\n"), "print(6)": FakeExecutor.ok("6\n"),
                                     "print(1/0)": FakeExecutor.error("Traceback (most recent call last):\nZeroDivisionError\n")])
        let scripts = [
            format.codeBlock("print(2)") + "\\boxed{2}",                                  // one call, then answer
            format.codeBlock("print(1/0)") + format.codeBlock("print(2)") + "\\boxed{2}", // two calls (error, ok)
            "\\boxed{6}",                                                                  // no call
            format.codeBlock("print(6)") + "so \\boxed{6}",
        ].map { tokenizer.encode($0) + [eos] }
        var params = SamplingParams()
        params.temperature = 0.8
        let source = PolicyTokenSource(policy: policy, params: params, seed: 1, script: scripts)
        var c = config(toolCalls: 2)
        c.sampling = params
        let engine = try EpisodeEngine(config: c, reward: ToRLReward())
        let (ts, _) = try await engine.run(tasks: tasks, groupSize: 2, source: source, executor: executor, contextLimit: 128)
        XCTAssertEqual(ts.map(\.toolCalls), [1, 2, 0, 1])
        XCTAssertEqual(ts.map(\.finish), [.answer, .answer, .answer, .answer])

        let v = policy.config.vocab
        for (s, tr) in ts.enumerated() {
            assertConsistent(tr, prompt: promptTokens(tasks[s / 2]), fed: nil, config: c, contextLimit: 128, slot: s)
            let policyPositions = tr.roles.indices.filter { tr.roles[$0] == .policy }
            XCTAssertEqual(source.emitted[s], scripts[s])
            XCTAssertEqual(policyPositions.map { tr.tokens[$0] }, scripts[s])
            XCTAssertEqual(source.recordedLogits[s].count, policyPositions.count)

            // A full forward of the final sequence: row p-1 predicts the token at p.
            let n = tr.tokens.count
            let full = try noGrad { try policy.logits(tokens: tr.tokens, batch: 1, seqLen: n).array }
            let fullLogProbs = try noGrad {
                try policy.tokenLogProbs(tokens: Array(tr.tokens.dropLast()), targets: Array(tr.tokens.dropFirst()),
                                         batch: 1, seqLen: n - 1, temperature: params.temperature).array
            }
            var worst: Float = 0, worstAt = -1
            for (k, p) in policyPositions.enumerated() {
                let row = Array(full[(p - 1) * v ..< p * v])
                for (a, b) in zip(source.recordedLogits[s][k], row) where abs(a - b) > worst { worst = abs(a - b); worstAt = p }
            }
            // Every token after the prompt carries its behaviour log-prob: sampled (policy) or scored by its
            // prefill (tool output), the same as a full forward gives. Prompt tokens are not scored: 0.
            for p in 1..<n {
                let want = tr.roles[p] == .prompt ? 0 : fullLogProbs[p - 1]
                XCTAssertEqual(tr.samplingLogProbs[p], want, accuracy: 1e-4, "slot \(s): \(tr.roles[p]) log-prob at \(p)")
            }
            XCTAssertTrue(tr.roles.contains(.tool) == (tr.toolCalls > 0))
            XCTAssertLessThan(worst, 1e-4, "slot \(s): cached logits differ from a full forward at position \(worstAt)")
            let spread = full.max()! - full.min()!
            XCTAssertGreaterThan(spread, 1, "the test policy's logits must not be near-uniform")
        }
    }

    func testScriptedPolicyThatRunsOutThrows() async throws {
        let policy = try tinyPolicy()
        let source = PolicyTokenSource(policy: policy, params: SamplingParams(), seed: 1,
                                       script: [tokenizer.encode("abc")])   // no EOS: the engine asks for a 4th token
        let engine = try EpisodeEngine(config: RolloutConfig(), reward: ToRLReward())
        do {
            _ = try await engine.run(tasks: [task("a", "Q", "1")], groupSize: 1, source: source, executor: nil, contextLimit: 128)
            XCTFail("expected an error when the script runs out")
        } catch let e as RolloutError {
            XCTAssertTrue(e.message.contains("ran out"), e.message)
        }
    }

    // MARK: - Determinism

    func sample(_ tasks: [MathTask], seed: UInt64, policy: Policy) async throws -> [Trajectory] {
        var c = config(toolCalls: 2, turnTokens: 24, trajectoryTokens: 48)
        c.sampling = SamplingParams(temperature: 1)
        let engine = try EpisodeEngine(config: c, reward: ToRLReward())
        let source = PolicyTokenSource(policy: policy, params: c.sampling, seed: seed)
        let (ts, _) = try await engine.run(tasks: tasks, groupSize: 4, source: source, executor: FakeExecutor(),
                                           contextLimit: policy.config.context)
        for (i, t) in ts.enumerated() {
            assertConsistent(t, prompt: promptTokens(tasks[i / 4]), fed: nil, config: c, contextLimit: policy.config.context, slot: i)
            XCTAssertTrue(t.samplingLogProbs.indices.filter { t.roles[$0] == .policy }.allSatisfy { t.samplingLogProbs[$0] < 0 })
        }
        return ts
    }

    /// Same tokens, roles, turns and finish; log-probs bitwise equal, or within `logProbTolerance` (another
    /// batch composition changes OpenBLAS's blocking for the decode rows, which moves the last bit).
    func assertSame(_ a: [Trajectory], _ b: [Trajectory], logProbTolerance: Float = 0,
                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.tokens, y.tokens, file: file, line: line)
            XCTAssertEqual(x.roles, y.roles, file: file, line: line)
            if logProbTolerance == 0 {
                XCTAssertEqual(x.samplingLogProbs, y.samplingLogProbs, file: file, line: line)
            } else {
                XCTAssertEqual(x.samplingLogProbs.count, y.samplingLogProbs.count, file: file, line: line)
                let worst = zip(x.samplingLogProbs, y.samplingLogProbs).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, logProbTolerance, file: file, line: line)
            }
            XCTAssertEqual(x.turns, y.turns, file: file, line: line)
            XCTAssertEqual(x.finish, y.finish, file: file, line: line)
        }
    }

    func testSamplingIsDeterministicAndIndependentOfBatchComposition() async throws {
        let policy = try tinyPolicy()
        let a = task("a", "What is 3+4?", "7"), b = task("b", "Name a prime.", "2"), c = task("c", "9?", "9")
        let first = try await sample([a, b, c], seed: 11, policy: policy)
        let again = try await sample([a, b, c], seed: 11, policy: policy)
        assertSame(first, again)
        // Task a holds slots 0..<4 in both runs: alone it must get exactly the same trajectories.
        let alone = try await sample([a], seed: 11, policy: policy)
        assertSame(alone, Array(first.prefix(4)), logProbTolerance: 1e-5)
        // The same prompt in different group members, or another seed, gives other samples.
        XCTAssertNotEqual(first[0].tokens, first[1].tokens)
        let other = try await sample([a, b, c], seed: 12, policy: policy)
        XCTAssertNotEqual(first.map(\.tokens), other.map(\.tokens))
    }

    // MARK: - The real sandbox

    func testEndToEndWithTheRealSandboxPool() async throws {
        let pool: SandboxPool
        do {
            pool = try SandboxPool(workers: 1)
        } catch SandboxError.isolationUnavailable(let why) {
            throw XCTSkip("bubblewrap sandbox isolation is unavailable on this machine (\(why)); run scripts/setup.sh")
        }
        defer { pool.shutdown() }
        let t = task("t0", "What is 6*7?", "42")
        let scripts = [
            format.codeBlock("print(6*7)") + "The answer is \\boxed{42}.",
            format.codeBlock("print(1/0)") + format.codeBlock("import math\nprint(math.factorial(5))") + "\\boxed{120}",
        ].map { tokenizer.encode($0) + [eos] }
        let (ts, _) = try await run([t], groupSize: 2, scripts: scripts, executor: pool, config: config(toolCalls: 2))
        XCTAssertEqual(text(ts[0], ts[0].turns[0].observationRange), "```output\n42\n```\n")
        XCTAssertEqual(ts[0].turns.map(\.execution), [.ok, .none])
        XCTAssertEqual(ts[0].reward, 1)
        XCTAssertEqual(text(ts[1], ts[1].turns[0].observationRange), "```output\nZeroDivisionError: division by zero\n```\n")
        XCTAssertEqual(text(ts[1], ts[1].turns[1].observationRange), "```output\n120\n```\n")
        XCTAssertEqual(ts[1].turns.map(\.execution), [.error, .ok, .none])
        XCTAssertEqual(ts[1].toolCalls, 2)
        XCTAssertEqual(ts[1].reward, -1)
    }
}
