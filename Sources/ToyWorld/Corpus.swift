import Foundation
import Rollout

// The pretraining corpus of the toy world (docs/DESIGN.md "The toy world"): complete documents, prompt + response,
// as the policy should see them. Observation blocks are what the runner would insert: the exact stdout of
// the code shown (computed in Swift, see ToyWorld.solve), formatted by `formatObservation`. Sloppy documents
// still execute; the corpus never shows an error or a traceback. Train split only.

/// What kind of behaviour a document demonstrates.
public enum CorpusStyle: String, CaseIterable, Codable, Sendable {
    /// Right code, its real output, the output copied exactly into \boxed{}.
    case correctTool = "correct_tool"
    /// No code: a plausible guess with the right number of digits (usually wrong).
    case direct = "direct"
    /// A wrong operand in the code; the output shown is the real output of that wrong code, copied.
    case wrongOperand = "wrong_operand"
    /// Right code and output, but a digit changed or dropped when copying (into the answer, or into the
    /// second call of a two-step problem, whose output is then real for the wrong x).
    case wrongCopy = "wrong_copy"
    /// The answer right after the (last) code block, without waiting for its output: a guess.
    case answerWithoutOutput = "answer_without_output"
}

/// Fractions of each style (normalised by their sum), and how often a guess happens to be right.
public struct CorpusMix: Codable, Sendable, Equatable {
    public var correctTool = 0.45
    public var direct = 0.25
    public var wrongOperand = 0.10
    public var wrongCopy = 0.10
    public var answerWithoutOutput = 0.10
    /// A guessed answer (direct, answer without output) is the right number this often.
    public var guessCorrectRate = 0.10

    public init() {}

    public func weight(_ style: CorpusStyle) -> Double {
        switch style {
        case .correctTool: return correctTool
        case .direct: return direct
        case .wrongOperand: return wrongOperand
        case .wrongCopy: return wrongCopy
        case .answerWithoutOutput: return answerWithoutOutput
        }
    }

    /// The configured fraction of a style (weights normalised to sum 1).
    public func fraction(_ style: CorpusStyle) -> Double {
        weight(style) / CorpusStyle.allCases.reduce(0) { $0 + weight($1) }
    }
}

public struct CorpusDocument: Codable, Sendable, Equatable {
    /// "Question: ...\n" (the tokenizer adds BOS before it).
    public var prompt: String
    /// Everything after the prompt, observation blocks included (the tokenizer adds EOS after it).
    public var response: String
    public var style: CorpusStyle
    public var kind: ToyKind
    /// Code blocks in the response.
    public var toolCalls: Int
    /// The task's reference answer, and whether the document's final answer is equivalent to it.
    public var reference: String
    public var correct: Bool

    public var text: String { prompt + response }
}

/// A seeded, unbounded corpus: `document(at: i)` is a pure function of (world, seed, mix, format, i).
public struct PretrainingCorpus: Sendable {
    public var world: ToyWorld
    public var seed: UInt64
    public var mix: CorpusMix
    public var format: EpisodeFormat

    public init(world: ToyWorld = ToyWorld(), seed: UInt64 = 0, mix: CorpusMix = CorpusMix(),
                format: EpisodeFormat = .standard) {
        precondition(CorpusStyle.allCases.allSatisfy { mix.weight($0) >= 0 }
                     && CorpusStyle.allCases.contains { mix.weight($0) > 0 }, "CorpusMix needs non-negative weights, not all zero")
        self.world = world
        self.seed = seed
        self.mix = mix
        self.format = format
    }

    public func documents(count: Int, from start: Int = 0) -> [CorpusDocument] {
        (start..<(start + count)).map { document(at: $0) }
    }

    public func document(at index: Int) -> CorpusDocument {
        var rng = ToyRNG(seed: seed, stream: 3, index: UInt64(truncatingIfNeeded: index))
        let problem = world.problem(heldOut: false, rng: &rng)     // train split only
        let style = pickStyle(&rng)
        return document(problem: problem, style: style, rng: &rng)
    }

    private func pickStyle(_ rng: inout ToyRNG) -> CorpusStyle {
        var u = rng.uniform()
        for style in CorpusStyle.allCases {
            u -= mix.fraction(style)
            if u < 0 { return style }
        }
        return CorpusStyle.allCases.last { mix.weight($0) > 0 }!
    }

    /// One document of `style` for `problem`. (Public so tests and tools can render a chosen style.)
    public func document(problem p: ToyProblem, style: CorpusStyle, rng: inout ToyRNG) -> CorpusDocument {
        var style = style
        var calls: [ToolCall] = p.solution       // the code shown, each with its real stdout
        var showLastOutput = true
        var final = p.answer

        switch style {
        case .correctTool:
            break
        case .direct:
            calls = []
            final = guess(p.answer, &rng)
        case .wrongOperand:
            if let wrong = wrongOperandCalls(p, &rng) {
                calls = wrong
                final = String(wrong[wrong.count - 1].stdout.dropLast())
            } else {
                style = .wrongCopy                // (practically never) no valid perturbation found
                final = miscopy(p.answer, &rng)
            }
        case .wrongCopy:
            if p.kind.steps == 2 && rng.chance(0.5),
               let miscopied = miscopiedSecondCall(p, &rng) {
                calls = miscopied
                final = String(miscopied[1].stdout.dropLast())
            } else {
                final = miscopy(p.answer, &rng)
            }
        case .answerWithoutOutput:
            showLastOutput = false
            final = guess(p.answer, &rng)
        }

        var response = ""
        for (i, call) in calls.enumerated() {
            response += format.codeBlock(call.code)
            if i < calls.count - 1 || showLastOutput {
                response += format.observationBlock(formatObservation(stdout: call.stdout, stderr: "", failed: false))
            }
        }
        response += format.finalAnswer(final)
        return CorpusDocument(prompt: format.prompt(p.question), response: response, style: style, kind: p.kind,
                              toolCalls: calls.count, reference: p.answer, correct: answersEquivalent(final, p.answer))
    }

    // MARK: sloppiness

    /// The solution with one digit of one operand changed (validity kept: ranges not reversed, k <= n, ...).
    private func wrongOperandCalls(_ p: ToyProblem, _ rng: inout ToyRNG) -> [ToolCall]? {
        let editable = p.kind == .productOffset ? [0, 1, 2] : Array(p.operands.indices)
        for _ in 0..<20 {
            var ops = p.operands
            let i = rng.pick(editable)
            guard let changed = Int64(changeDigit(String(ops[i]), &rng)) else { continue }
            ops[i] = changed
            switch p.kind {
            case .rangeSum, .twoStepRangeMod: if ops[0] > ops[1] { continue }
            case .comb, .factorialRatio: if ops[1] > ops[0] { continue }
            default: break
            }
            if let calls = ToyWorld.solve(p.kind, ops), calls.last!.stdout != p.solution.last!.stdout { return calls }
        }
        return nil
    }

    /// Two-step problems: x copied into the second call with one digit changed or dropped.
    private func miscopiedSecondCall(_ p: ToyProblem, _ rng: inout ToyRNG) -> [ToolCall]? {
        let x = String(p.solution[0].stdout.dropLast())
        for _ in 0..<10 {
            if let calls = ToyWorld.solve(p.kind, p.operands, xLiteral: miscopy(x, &rng)) { return calls }
        }
        return nil
    }

    /// A plausible guess: the right number of digits (and sign); right with probability `guessCorrectRate`.
    private func guess(_ answer: String, _ rng: inout ToyRNG) -> String {
        if rng.chance(mix.guessCorrectRate) { return answer }
        let negative = answer.hasPrefix("-")
        let digits = Array(negative ? answer.dropFirst() : Substring(answer))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i == 0 {
                out.append(rng.chance(0.5) ? d : Character(String(rng.int(digits.count == 1 ? 0...9 : 1...9))))
            } else {
                out.append(Character(String(rng.int(0...9))))
            }
        }
        if out == String(digits) { out = changeDigit(out, &rng) }
        return (negative ? "-" : "") + out
    }

    /// A copying slip: one digit changed, or (half the time, for 2+ digits) one digit dropped; never equal
    /// to the input and never a leading zero.
    private func miscopy(_ number: String, _ rng: inout ToyRNG) -> String {
        let negative = number.hasPrefix("-")
        var digits = Array(negative ? number.dropFirst() : Substring(number))
        if digits.count >= 2 && rng.chance(0.5) {
            let i = rng.int(0...(digits.count - 1))
            var dropped = digits
            dropped.remove(at: i)
            if dropped.first != "0" {
                digits = dropped
                return (negative ? "-" : "") + String(digits)
            }
        }
        return (negative ? "-" : "") + changeDigit(String(digits), &rng)
    }
}

/// One digit replaced by a different one (a leading digit never becomes 0 unless the number is one digit).
func changeDigit(_ digits: String, _ rng: inout ToyRNG) -> String {
    var d = Array(digits)
    let i = rng.int(0...(d.count - 1))
    let old = Int(String(d[i]))!
    let lowest = (i == 0 && d.count > 1) ? 1 : 0
    var new = old
    while new == old { new = rng.int(lowest...9) }
    d[i] = Character(String(new))
    return String(d)
}

/// `PretrainingCorpus(world:seed:mix:format:).documents(count:)`.
public func pretrainingCorpus(world: ToyWorld = ToyWorld(), count: Int, seed: UInt64 = 0, mix: CorpusMix = CorpusMix(),
                              format: EpisodeFormat = .standard) -> [CorpusDocument] {
    PretrainingCorpus(world: world, seed: seed, mix: mix, format: format).documents(count: count)
}

// MARK: - Statistics

/// The mix of a corpus: per-style and per-kind counts, how many documents end correct, lengths in characters
/// (= tokens of the byte tokenizer, plus BOS/EOS).
public struct CorpusStatistics: Codable, Sendable {
    public var documents = 0
    public var styleCounts: [String: Int] = [:]
    public var styleCorrect: [String: Int] = [:]
    public var kindCounts: [String: Int] = [:]
    public var correctDocuments = 0
    public var documentsWithCode = 0
    public var meanChars = 0.0
    public var meanCharsSingleStep = 0.0
    public var meanCharsMultiStep = 0.0
    public var minChars = 0
    public var maxChars = 0

    public func fraction(_ style: CorpusStyle) -> Double {
        documents == 0 ? 0 : Double(styleCounts[style.rawValue, default: 0]) / Double(documents)
    }

    public var correctFraction: Double { documents == 0 ? 0 : Double(correctDocuments) / Double(documents) }

    /// A small table for logs and reports.
    public var description: String {
        var lines = ["documents \(documents)   correct answers \(pct(correctFraction))   with code \(pct(Double(documentsWithCode) / Double(max(documents, 1))))",
                     "chars: mean \(String(format: "%.1f", meanChars)) (single-step \(String(format: "%.1f", meanCharsSingleStep)), multi-step \(String(format: "%.1f", meanCharsMultiStep))), min \(minChars), max \(maxChars)",
                     "style                    fraction  correct"]
        for style in CorpusStyle.allCases {
            let n = styleCounts[style.rawValue, default: 0]
            let c = styleCorrect[style.rawValue, default: 0]
            lines.append(style.rawValue.padding(toLength: 24, withPad: " ", startingAt: 0)
                         + " " + pct(fraction(style)).leftPad(8) + "  " + pct(n == 0 ? 0 : Double(c) / Double(n)).leftPad(7))
        }
        lines.append("kinds: " + kindCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    private func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
}

private extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

public func corpusStatistics(_ docs: [CorpusDocument]) -> CorpusStatistics {
    var s = CorpusStatistics()
    s.documents = docs.count
    var total = 0, single = 0, singleN = 0, multi = 0, multiN = 0
    s.minChars = docs.isEmpty ? 0 : Int.max
    for d in docs {
        s.styleCounts[d.style.rawValue, default: 0] += 1
        if d.correct { s.styleCorrect[d.style.rawValue, default: 0] += 1; s.correctDocuments += 1 }
        s.kindCounts[d.kind.rawValue, default: 0] += 1
        if d.toolCalls > 0 { s.documentsWithCode += 1 }
        let n = d.text.utf8.count
        total += n
        if d.kind.steps == 1 { single += n; singleN += 1 } else { multi += n; multiN += 1 }
        s.minChars = min(s.minChars, n)
        s.maxChars = max(s.maxChars, n)
    }
    s.meanChars = docs.isEmpty ? 0 : Double(total) / Double(docs.count)
    s.meanCharsSingleStep = singleN == 0 ? 0 : Double(single) / Double(singleN)
    s.meanCharsMultiStep = multiN == 0 ? 0 : Double(multi) / Double(multiN)
    return s
}
