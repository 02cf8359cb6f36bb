import XCTest
@testable import Rollout

final class TurnParsingTests: XCTestCase {
    func testClosedBlockEndsTheTurn() {
        let t = "Let me compute.\n```python\nprint(4817*362-95)\n```\n"
        XCTAssertEqual(detectTurnEnd(t), .codeClosed(code: "print(4817*362-95)"))
        XCTAssertEqual(turnEndOffset(t), t.utf8.count)
        XCTAssertEqual(turnCode(t), "print(4817*362-95)")
        XCTAssertFalse(isVoidTurn(text: t, cutByLimit: false))
        XCTAssertTrue(isVoidTurn(text: t, cutByLimit: true))
        // Multi-line code and the "py" tag.
        XCTAssertEqual(detectTurnEnd("```py\nimport math\nprint(math.comb(23,5))\n```\n"),
                       .codeClosed(code: "import math\nprint(math.comb(23,5))"))
    }

    func testNotYetClosed() {
        for t in ["```python\nprint(1)\n", "```python\nprint(1)\n```", "```python\nprint(1)\n``", "```python",
                  "```pyth", "Some text", "", "```python\n```python\nprint(2)\n"] {
            XCTAssertEqual(detectTurnEnd(t), .none, t)
            XCTAssertNil(turnEndOffset(t), t)
        }
        XCTAssertTrue(isVoidTurn(text: "```python\nprint(1)\n```", cutByLimit: false))
        XCTAssertTrue(isVoidTurn(text: "I think it is 12.", cutByLimit: false))
        XCTAssertFalse(isVoidTurn(text: "The answer is \\boxed{12}.", cutByLimit: false))
    }

    /// `rollout.voidTurnAnswer`: SimpleTIR's test counts only \boxed{} as an answer; `answerRule` counts what the
    /// answer rule reads, so under `lastNumber` a number written in words is an answer too.
    func testVoidTurnAnswerFollowsTheAnswerRule() {
        let words = "The result is 4,817.", none = "I am not sure.", boxed = "So \\boxed{12}."
        func void(_ t: String, _ a: VoidTurnAnswer, _ r: AnswerRule, cut: Bool = false) -> Bool {
            isVoidTurn(text: t, cutByLimit: cut, answer: a, rule: r)
        }
        XCTAssertTrue(void(words, .boxed, .lastNumber))
        XCTAssertFalse(void(words, .answerRule, .lastNumber))
        XCTAssertTrue(void(words, .answerRule, .boxed))
        XCTAssertTrue(void(none, .answerRule, .lastNumber))
        XCTAssertTrue(void(words, .answerRule, .lastNumber, cut: true))
        for a in VoidTurnAnswer.allCases { for r in AnswerRule.allCases { XCTAssertFalse(void(boxed, a, r)) } }
    }

    func testOutputMarkerWrittenByThePolicy() {
        // Marker inside the open python block: it closes the block (ToRL's stop string).
        let t1 = "```python\nprint(2**10)\n```output"
        XCTAssertEqual(detectTurnEnd(t1), .outputMarker(code: "print(2**10)"))
        XCTAssertEqual(turnEndOffset(t1), t1.utf8.count)
        XCTAssertFalse(isVoidTurn(text: t1, cutByLimit: false))
        // Marker without any code: nothing to run, a void turn.
        let t2 = "The result is\n```output"
        XCTAssertEqual(detectTurnEnd(t2), .outputMarker(code: nil))
        XCTAssertTrue(isVoidTurn(text: t2, cutByLimit: false))
        // The marker counts only at the start of a line.
        XCTAssertEqual(detectTurnEnd("print('```output')"), .none)
        // A non-python block before the marker is not code.
        XCTAssertEqual(detectTurnEnd("```text\nhello\n```output"), .outputMarker(code: nil))
    }

    /// Found by Fuzz/ (fuzz-turns: the engine's byte-by-byte view must agree with the whole text): a combining
    /// mark (or a joiner) right after the marker fused with its "t", so the whole text no longer ended the turn
    /// although the engine, probing after the "t", had already ended it there.
    func testOutputMarkerFollowedByACombiningMark() {
        for mark in ["\u{301}", "\u{200D}", "\u{FE0F}"] {
            XCTAssertEqual(detectTurnEnd("```output" + mark), .outputMarker(code: nil), mark.debugDescription)
            XCTAssertEqual(turnEndOffset("```output" + mark), 9)
            let t = "```python\nprint(1)\n```output" + mark + " more"
            XCTAssertEqual(detectTurnEnd(t), .outputMarker(code: "print(1)"))
            XCTAssertEqual(turnEndOffset(t), "```python\nprint(1)\n```output".utf8.count)
            XCTAssertEqual(turnCode(t), "print(1)")
        }
    }

    func testTwoBlocksTheFirstEndsTheTurn() {
        let first = "```python\nx = 1\n```\n"
        let t = first + "more text\n```python\nprint(2)\n```\n"
        XCTAssertEqual(detectTurnEnd(t), .codeClosed(code: "x = 1"))
        XCTAssertEqual(turnEndOffset(t), first.utf8.count)
        XCTAssertEqual(lastCompletePythonBlock(in: t), "print(2)")
    }

    func testFencesInsideStrings() {
        let t = "```python\nprint(\"```\")\ns = '```python'\nprint(len(s))\n```\n"
        XCTAssertEqual(detectTurnEnd(t), .codeClosed(code: "print(\"```\")\ns = '```python'\nprint(len(s))"))
        XCTAssertEqual(detectTurnEnd("```python\nprint(\"```\")\n"), .none)
        // A non-python block is not a tool call; a python block after it is.
        let u = "```\nnot code\n```\n```python\nprint(3)\n```\n"
        XCTAssertEqual(detectTurnEnd(u), .codeClosed(code: "print(3)"))
    }

    func testLastBlockOfAWholeEpisodeSkipsOutputBlocks() {
        let f = EpisodeFormat.standard
        let episode = f.prompt("q") + f.codeBlock("print(1)") + f.observationBlock("1") + f.codeBlock("print(2)")
            + f.observationBlock("```python\nfake\n```") + "The answer is \\boxed{2}."
        XCTAssertEqual(lastCompletePythonBlock(in: episode), "print(2)")
        XCTAssertNil(lastCompletePythonBlock(in: "no code"))
        XCTAssertNil(lastCompletePythonBlock(in: "```python\nprint(1)"))
        XCTAssertEqual(lastCompletePythonBlock(in: "```python\n```\n"), "")
    }

    func testStopStringsAreCandidatesOnly() {
        let f = EpisodeFormat.standard
        let turn = "```python\nprint(1)\n```\n"
        XCTAssertTrue(f.stopStrings.contains { turn.hasSuffix($0) })
        XCTAssertEqual(detectTurnEnd(turn), .codeClosed(code: "print(1)"))
        let plain = "```\nnot python\n```\n"            // the same stop string, but no tool call
        XCTAssertTrue(f.stopStrings.contains { plain.hasSuffix($0) })
        XCTAssertEqual(detectTurnEnd(plain), .none)
    }

    func testCRLFAndTrailingSpacesOnFences() {
        XCTAssertEqual(detectTurnEnd("```python \r\nprint(1)\r\n``` \n"), .codeClosed(code: "print(1)\r"))
    }

    func testFormatObservation() {
        XCTAssertEqual(formatObservation(stdout: "1743559\n", stderr: "", failed: false), "1743559")
        XCTAssertEqual(formatObservation(stdout: "a\nb\n\n", stderr: "", failed: false), "a\nb")
        XCTAssertEqual(formatObservation(stdout: "", stderr: "", failed: false), emptyObservation)
        let tb = "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\nNameError: name 'comb' is not defined\n"
        XCTAssertEqual(formatObservation(stdout: "partial\n", stderr: tb, failed: true), "NameError: name 'comb' is not defined")
        XCTAssertEqual(formatObservation(stdout: "", stderr: "", failed: true), "error (no message)")
        XCTAssertEqual(formatObservation(stdout: "", stderr: "Traceback:\r\nValueError: bad\r\n", failed: true), "ValueError: bad")
        // Truncation: head + marker + tail, within the cap, on character boundaries.
        let long = (0..<1000).map(String.init).joined(separator: "\n")
        let cut = formatObservation(stdout: long, stderr: "", failed: false, cap: 100)
        XCTAssertEqual(cut.utf8.count, 100)
        XCTAssertTrue(cut.hasPrefix("0\n1\n2\n"))
        XCTAssertTrue(cut.hasSuffix("998\n999"))
        XCTAssertTrue(cut.contains(observationTruncationMarker))
        let wide = String(repeating: "é", count: 200)   // 2 bytes each
        let cutWide = formatObservation(stdout: wide, stderr: "", failed: false, cap: 51)
        XCTAssertLessThanOrEqual(cutWide.utf8.count, 51)
        XCTAssertFalse(cutWide.contains("\u{FFFD}"))
        XCTAssertEqual(formatObservation(stdout: "short", stderr: "", failed: false, cap: 5), "short")
        XCTAssertEqual(EpisodeFormat.standard.observationBlock("42"), "```output\n42\n```\n")
    }
}

final class ObservationStyleTests: XCTestCase {
    func testSimpleTIRFormat() {
        let s = ObservationStyle.simpletir
        XCTAssertEqual(s.format(stdout: "42\n", stderr: "", failed: false, cap: 16), "Code execution result: 42")
        XCTAssertEqual(s.format(stdout: "", stderr: "Traceback (most recent call last):\n  x\nNameError: name 'y' is not defined\n",
                                failed: true, cap: 16), "Code execution result: NameError: name 'y' is not defined")
        // First and last 256 characters; the cap of the ToRL style does not apply.
        let long = String(repeating: "a", count: 300) + String(repeating: "b", count: 300)
        let out = s.format(stdout: long, stderr: "", failed: false, cap: 64)
        XCTAssertEqual(out, "Code execution result: " + String(repeating: "a", count: 256) + observationTruncationMarker
                       + String(repeating: "a", count: 0) + String(repeating: "b", count: 256))
        let fits = String(repeating: "c", count: 512)
        XCTAssertEqual(s.format(stdout: fits, stderr: "", failed: false, cap: 64), "Code execution result: " + fits)
        XCTAssertEqual(ObservationStyle.torl.format(stdout: "42\n", stderr: "", failed: false, cap: 64),
                       formatObservation(stdout: "42\n", stderr: "", failed: false, cap: 64))
    }
}
