import Foundation
import XCTest
import Model
@testable import Rollout

/// A tokenizer with multi-byte tokens, as byte-level BPE has: ids 0...255 are single bytes (what `encode`
/// produces), 256 is the end-of-turn token, 257... are the given pieces. A fence may end inside a piece.
private struct PieceTokenizer: TextTokenizer {
    let pieces: [String]
    static let eos: Int32 = 256
    var vocabSize: Int { 257 + pieces.count }
    var bos: Int32? { nil }
    var eos: Set<Int32> { [Self.eos] }
    var pad: Int32 { Self.eos }
    func encode(_ text: String) -> [Int32] { text.utf8.map { Int32($0) } }
    func tokenBytes(_ id: Int32) -> [UInt8] {
        id < 256 ? [UInt8(id)] : id == Self.eos ? Array("<|im_end|>".utf8) : Array(pieces[Int(id) - 257].utf8)
    }
    func isSpecial(_ id: Int32) -> Bool { id == Self.eos }
    func piece(_ text: String) -> Int32 { Int32(257 + pieces.firstIndex(of: text)!) }
}

/// Episodes in a real model's tokens: turns read from decoded multi-byte tokens, chat prompts, answer rules,
/// the built-in arithmetic tasks and GSM8K-form files.
final class RealModelEpisodeTests: XCTestCase {
    let task = MathTask(id: "t", question: "What is 6 times 7?", answer: "42", kind: "product", steps: 1)

    fileprivate func run(_ script: [Int32], tokenizer: PieceTokenizer, executor: FakeExecutor, rule: AnswerRule = .boxed,
             maxToolCalls: Int = 2) async throws -> Trajectory {
        var c = RolloutConfig()
        c.maxToolCalls = maxToolCalls
        c.answerRule = rule
        let engine = try EpisodeEngine(config: c, reward: ToRLReward(), tokenizer: tokenizer)
        let (ts, _) = try await engine.run(tasks: [task], groupSize: 1, source: ScriptedTokenSource(script: [script]),
                                           executor: executor, contextLimit: 512)
        return ts[0]
    }

    /// SimpleTIR's round trip (`retokenizeTurns`): the turn's sampled pieces come back as the encoding of their text
    /// (bytes here), the sampler's context is rewound and fed the new ids with the observation, the turn's range
    /// follows the new ids, and the turn after the observation is untouched.
    func testRetokenizedTurnReplacesTheSampledIds() async throws {
        let tok = PieceTokenizer(pieces: ["```python\nprint(6*7)\n``", "`\nThe", " answer is ", "\\boxed{42}"])
        let script = [tok.piece("```python\nprint(6*7)\n``"), tok.piece("`\nThe"),
                      tok.piece(" answer is "), tok.piece("\\boxed{42}"), PieceTokenizer.eos]
        var c = RolloutConfig()
        c.retokenizeTurns = true
        let engine = try EpisodeEngine(config: c, reward: ToRLReward(), tokenizer: tok)
        let source = ScriptedTokenSource(script: [script])
        let (ts, stats) = try await engine.run(tasks: [task], groupSize: 1, source: source,
                                               executor: FakeExecutor(["print(6*7)": FakeExecutor.ok("42\n")]), contextLimit: 512)
        let t = ts[0]
        let prompt = tok.encode(EpisodeFormat().prompt(task.question))
        let observation = tok.encode(EpisodeFormat().observationBlock("42"))
        let again = tok.encode("```python\nprint(6*7)\n```\nThe")
        XCTAssertEqual(stats.retokenizedTurns, 1)
        XCTAssertEqual(t.tokens, prompt + again + observation + script[2...])
        XCTAssertEqual(t.roles, Array(repeating: .prompt, count: prompt.count) + Array(repeating: .policy, count: again.count)
                       + Array(repeating: .tool, count: observation.count) + [.policy, .policy, .policy])
        XCTAssertEqual(t.turns[0].policyRange, prompt.count ..< prompt.count + again.count)
        XCTAssertEqual(t.turns[0].observationRange, prompt.count + again.count ..< prompt.count + again.count + observation.count)
        XCTAssertEqual(source.fed[0], prompt + again + observation + script[2...3], "the sampler saw the new ids, once")
        XCTAssertEqual(t.samplingLogProbs.count, t.tokens.count)
        XCTAssertTrue(t.correct)
    }

    /// The closing fence ends inside the token "`\nThe": the turn ends with that token (kept whole, as
    /// sampled), the code runs, the observation follows it, and the next turn answers.
    func testClosingFenceInsideAMultiByteTokenEndsTheTurn() async throws {
        let tok = PieceTokenizer(pieces: ["```python\nprint(6*7)\n``", "`\nThe", " answer is ", "\\boxed{42}"])
        let script = [tok.piece("```python\nprint(6*7)\n``"), tok.piece("`\nThe"),
                      tok.piece(" answer is "), tok.piece("\\boxed{42}"), PieceTokenizer.eos]
        let executor = FakeExecutor(["print(6*7)": FakeExecutor.ok("42\n")])
        let t = try await run(script, tokenizer: tok, executor: executor)
        XCTAssertEqual(executor.executed, ["print(6*7)"])
        XCTAssertEqual(t.toolCalls, 1)
        XCTAssertEqual(t.turns.count, 2)
        XCTAssertTrue(t.turns[0].hasCode)
        let prompt = tok.encode(EpisodeFormat().prompt(task.question))
        let observation = tok.encode(EpisodeFormat().observationBlock("42"))
        // Token in, token out: the sampled ids as sampled, the observation after the token that closed the fence.
        XCTAssertEqual(t.tokens, prompt + script[0...1] + observation + script[2...])
        XCTAssertEqual(t.roles, Array(repeating: .prompt, count: prompt.count) + [.policy, .policy]
                       + Array(repeating: .tool, count: observation.count) + [.policy, .policy, .policy])
        XCTAssertEqual(t.turns[0].policyRange, prompt.count ..< prompt.count + 2)
        XCTAssertEqual(t.answer, "42")
        XCTAssertTrue(t.correct)
        XCTAssertEqual(t.finish, .answer)
    }

    /// A fence that closes with more text in the same token and no newline after it yet still ends the turn
    /// at that token (the newline is inside it).
    func testFenceAndNewlineInOneTokenWithTrailingText() async throws {
        let tok = PieceTokenizer(pieces: ["```python\nprint(6*7)", "\n```\n\n", "done"])
        let script = [tok.piece("```python\nprint(6*7)"), tok.piece("\n```\n\n"), tok.piece("done"), PieceTokenizer.eos]
        let executor = FakeExecutor(["print(6*7)": FakeExecutor.ok("42\n")])
        let t = try await run(script, tokenizer: tok, executor: executor)
        XCTAssertEqual(executor.executed, ["print(6*7)"])
        XCTAssertEqual(t.turns.map(\.policyRange.count), [2, 2])
    }

    /// The answer rules: boxed reads only \boxed{}; lastNumber falls back to the last number of the last
    /// code output and the turn after it, and a number the policy writes after the output wins.
    func testAnswerRules() async throws {
        let tok = PieceTokenizer(pieces: ["```python\nprint(6*7)\n```\n", "It is 41.", "Done."])
        let executor = FakeExecutor(["print(6*7)": FakeExecutor.ok("42\n")])
        let quiet = [tok.piece("```python\nprint(6*7)\n```\n"), tok.piece("Done."), PieceTokenizer.eos]
        let boxed = try await run(quiet, tokenizer: tok, executor: executor, rule: .boxed)
        XCTAssertNil(boxed.answer)
        XCTAssertFalse(boxed.correct)
        let fromOutput = try await run(quiet, tokenizer: tok, executor: executor, rule: .lastNumber)
        XCTAssertEqual(fromOutput.answer, "42")
        XCTAssertTrue(fromOutput.correct)
        let restated = [tok.piece("```python\nprint(6*7)\n```\n"), tok.piece("It is 41."), PieceTokenizer.eos]
        let wrong = try await run(restated, tokenizer: tok, executor: executor, rule: .lastNumber)
        XCTAssertEqual(wrong.answer, "41")
        XCTAssertFalse(wrong.correct)
        XCTAssertEqual(AnswerRule.lastNumber.answer(policyText: "x \\boxed{7} y 9", finalText: "y 9"), "7")
        XCTAssertEqual(lastWrittenNumber(in: "total: 44,715,911."), "44,715,911")
        XCTAssertEqual(lastWrittenNumber(in: "it is -3.5, then"), "-3.5")
        XCTAssertEqual(lastWrittenNumber(in: "items 1, 2, 3"), "3")
        XCTAssertNil(lastWrittenNumber(in: "no digits"))
    }

    /// The chat template renders the question and the instruction as the user turn of the model's template,
    /// with the template's default system prompt; a model without a template keeps the raw format.
    func testChatPromptFollowsTheTemplate() throws {
        let chat = ChatFormat(defaultSystem: "You are helpful.")
        let prompt = PromptTemplate(chat: chat, instruction: PromptTemplate.defaultInstruction(.torl))
        XCTAssertEqual(prompt.text(question: "Q?", format: EpisodeFormat()),
                       "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nQ?\n"
                       + PromptTemplate.defaultInstruction(.torl) + "<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertTrue(PromptTemplate.defaultInstruction(.torl).contains("```output"))
        XCTAssertTrue(PromptTemplate.defaultInstruction(.simpletir).contains("Code execution result:"))
        XCTAssertEqual(PromptTemplate.raw.text(question: "Q?", format: EpisodeFormat()), "Question: Q?\n")
    }

    /// The built-in arithmetic: a function of (seed, index), answers right, held-out split disjoint from train.
    func testArithmeticTasks() throws {
        let gen = ArithmeticTasks(seed: 7, difficulty: 2)
        let train = (0..<400).map { gen.train.task(at: $0) }
        let held = gen.heldOut(count: 60)
        XCTAssertEqual(train.map(\.question), (0..<400).map { ArithmeticTasks(seed: 7, difficulty: 2).train.task(at: $0).question })
        XCTAssertNotEqual(train.map(\.question), (0..<400).map { ArithmeticTasks(seed: 8, difficulty: 2).train.task(at: $0).question })
        XCTAssertTrue(Set(train.map(\.question)).isDisjoint(with: held.map(\.question)))
        XCTAssertTrue(held.allSatisfy { ArithmeticTasks.isHeldOut($0.question) })
        XCTAssertEqual(Set(train.map(\.kind)), Set(ArithmeticTasks.families))
        for t in train + held {
            let n = t.question.split(whereSeparator: { !$0.isNumber }).compactMap { Int64($0) }
            switch (t.kind, t.question) {
            case ("product", _): XCTAssertEqual(t.answer, String(n[0] * n[1]), t.question)
            case ("series", let q) where q.contains("squares"): XCTAssertEqual(t.answer, String((1...n[1]).map { $0 * $0 }.reduce(0, +)), q)
            case ("series", let q): XCTAssertEqual(t.answer, String((n[0]...n[1]).reduce(0, +)), q)
            case ("modular", let q) where q.contains("power"):
                var r: Int64 = 1
                for _ in 0..<n[1] { r = r * n[0] % n[2] }
                XCTAssertEqual(t.answer, String(r), q)
            case ("modular", let q): XCTAssertEqual(t.answer, String(n[0] % n[1]), q)
            case ("units", let q) where q.contains("seconds"): XCTAssertEqual(t.answer, String(((n[0] * 24 + n[1]) * 60 + n[2]) * 60), q)
            case ("units", let q): XCTAssertEqual(t.answer, String((n[0] * 1000 + n[1]) * 100), q)
            case ("chain", let q) where q.contains("left"): XCTAssertEqual(t.answer, String(n[0] * n[1] - n[2]), q)
            case ("chain", let q): XCTAssertEqual(t.answer, String(n[0] * n[1] * n[2]), q)
            default: XCTFail("unknown family \(t.kind)")
            }
        }
        // Larger operands at a higher difficulty.
        let products = { (d: Int) in (0..<200).map { ArithmeticTasks(seed: 1, difficulty: d).train.task(at: $0) }
            .filter { $0.kind == "product" }.map { Double($0.answer)! } }
        XCTAssertGreaterThan(products(4).reduce(0, +) / Double(products(4).count), 100 * products(1).reduce(0, +) / Double(products(1).count))
    }

    /// GSM8K form: the answer is what follows the last "####"; MATH form still reads \boxed{}.
    func testGSM8KAndMATHFormRecords() throws {
        let text = #"""
        {"question": "Tom has 3 boxes of 24 pens. How many pens?", "answer": "3 boxes * 24 = <<3*24=72>>72 pens\n#### 72"}
        {"question": "Big?", "answer": "#### 1,200"}
        {"problem": "Half?", "solution": "It is $\\boxed{\\frac{1}{2}}$."}
        """#
        let tasks = try parseJSONLTasks(text)
        XCTAssertEqual(tasks.map(\.answer), ["72", "1,200", "\\frac{1}{2}"])
        XCTAssertTrue(answersEquivalent(tasks[1].answer, "1200"))
        XCTAssertThrowsError(try parseJSONLTasks(#"{"question": "q", "answer": "work\n####  "}"#)) { error in
            XCTAssertTrue("\(error)".contains("####"), "\(error)")
        }
    }
}
