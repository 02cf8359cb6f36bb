import XCTest
import Rollout
@testable import ToyWorld

final class CorpusTests: XCTestCase {
    let world = ToyWorld(seed: 3, difficulty: 2)

    func testDeterministic() {
        let a = pretrainingCorpus(world: world, count: 200, seed: 5)
        XCTAssertEqual(a, pretrainingCorpus(world: world, count: 200, seed: 5))
        XCTAssertNotEqual(a, pretrainingCorpus(world: world, count: 200, seed: 6))
        // Index-addressable: a window equals the same slice of a longer run.
        let corpus = PretrainingCorpus(world: world, seed: 5)
        XCTAssertEqual(corpus.documents(count: 20, from: 100), Array(a[100..<120]))
    }

    func testMixMatchesConfiguration() {
        var mix = CorpusMix()
        let docs = pretrainingCorpus(world: world, count: 4000, seed: 1, mix: mix)
        let stats = corpusStatistics(docs)
        for style in CorpusStyle.allCases {
            XCTAssertEqual(stats.fraction(style), mix.fraction(style), accuracy: 0.03, style.rawValue)
        }
        // Correct tool use is always right; sloppy tool use never is (up to coincidences); guesses rarely.
        XCTAssertEqual(stats.styleCorrect["correct_tool"], stats.styleCounts["correct_tool"])
        XCTAssertEqual(Double(stats.styleCorrect["wrong_operand", default: 0]), 0, accuracy: 0)
        XCTAssertLessThan(Double(stats.styleCorrect["direct", default: 0]) / Double(stats.styleCounts["direct"]!), 0.2)
        XCTAssertGreaterThan(stats.correctFraction, 0.45)
        XCTAssertLessThan(stats.correctFraction, 0.60)
        XCTAssertGreaterThan(stats.meanCharsSingleStep, 60)
        XCTAssertLessThan(stats.meanCharsSingleStep, 140)

        // A different mix is honoured too.
        mix.correctTool = 1; mix.direct = 1; mix.wrongOperand = 0; mix.wrongCopy = 0; mix.answerWithoutOutput = 0
        let half = corpusStatistics(pretrainingCorpus(world: world, count: 1000, seed: 2, mix: mix))
        XCTAssertEqual(half.fraction(.correctTool), 0.5, accuracy: 0.05)
        XCTAssertEqual(half.fraction(.wrongCopy), 0)
    }

    func testNoTracebackAndWellFormed() {
        let docs = pretrainingCorpus(world: world, count: 2000, seed: 4)
        for d in docs {
            XCTAssertFalse(d.text.contains("Traceback"))
            XCTAssertFalse(d.text.contains("Error"))
            XCTAssertTrue(d.prompt.hasPrefix("Question: ") && d.prompt.hasSuffix("\n"))
            XCTAssertTrue(d.response.hasSuffix("}."))
            XCTAssertEqual(d.response.components(separatedBy: "```python\n").count - 1, d.toolCalls)
            XCTAssertEqual(extractBoxed(d.response).map { answersEquivalent($0, d.reference) }, d.correct)
            if d.style == .correctTool { XCTAssertEqual(d.toolCalls, d.kind.steps) }
            if d.style == .direct { XCTAssertEqual(d.toolCalls, 0) }
        }
        let multi = docs.filter { $0.kind.steps == 2 && $0.style == .correctTool }
        XCTAssertFalse(multi.isEmpty)
        XCTAssertTrue(multi.allSatisfy { $0.response.components(separatedBy: "```output\n").count - 1 == 2 })
    }

    /// Replaying a document through the turn parser, as the engine would: every policy turn ends exactly
    /// at a closed code block whose code is the one shown, and the observation that follows is exactly
    /// what the runner inserts for the real output of that code.
    func testDocumentsReplayThroughTheTurnParserAndPython() throws {
        let docs = pretrainingCorpus(world: world, count: 3000, seed: 8)
        var sample: [(code: String, observation: String)] = []
        for style in CorpusStyle.allCases {
            for d in docs.filter({ $0.style == style }).prefix(6) {
                var rest = Substring(d.response)
                while let obsStart = rest.range(of: "```output\n") {
                    let turn = String(rest[..<obsStart.lowerBound])
                    guard case .codeClosed(let code) = detectTurnEnd(turn) else { return XCTFail("turn did not end in a code block: \(turn)") }
                    XCTAssertEqual(turnEndOffset(turn), turn.utf8.count)
                    let after = rest[obsStart.upperBound...]
                    let obsEnd = after.range(of: "\n```\n")!
                    sample.append((code, String(after[..<obsEnd.lowerBound])))
                    rest = after[obsEnd.upperBound...]
                }
                XCTAssertTrue(hasFinalAnswer(String(rest)))
            }
        }
        XCTAssertGreaterThan(sample.count, 20)
        let outputs = try runPython(sample.map(\.code))
        for (s, out) in zip(sample, outputs) {
            XCTAssertEqual(s.observation, formatObservation(stdout: out, stderr: "", failed: false), s.code)
        }
    }

    func testSamplesAndStatistics() {
        let docs = pretrainingCorpus(world: ToyWorld(seed: 0), count: 5000, seed: 0)
        var shown = Set<CorpusStyle>()
        for d in docs where shown.insert(d.style).inserted {
            print("---- \(d.style.rawValue) / \(d.kind.rawValue) (\(d.text.utf8.count) chars, correct: \(d.correct))\n\(d.text)")
        }
        if let m = docs.first(where: { $0.kind.steps == 2 && $0.style == .correctTool }) {
            print("---- \(m.style.rawValue) / \(m.kind.rawValue) (\(m.text.utf8.count) chars)\n\(m.text)")
        }
        let stats = corpusStatistics(docs)
        print(stats.description)
        XCTAssertEqual(stats.documents, 5000)
        XCTAssertEqual(shown.count, CorpusStyle.allCases.count)
    }
}
