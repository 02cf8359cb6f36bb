import Foundation
import FuzzSupport
import Rollout

// Final-answer extraction and equivalence (the reward's core) on arbitrary text. Input: a policy text, then
// after a NUL byte a reference answer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAnswers(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let parts = splitAtNUL(inputBytes(data, size), into: 2)
    let text = String(decoding: parts[0], as: UTF8.self), reference = String(decoding: parts[1], as: UTF8.self)

    note("boxed: \(String(describing: extractBoxed(text))); normalised: \(normalizeAnswer(text).debugDescription) vs "
         + "\(normalizeAnswer(reference).debugDescription); equivalent: \(answersEquivalent(text, reference))")
    // The extracted answer is a piece of the text, after a \boxed.
    if let boxed = extractBoxed(text) {
        let bytes = Array(text.utf8)
        require(contains(bytes, Array("\\boxed".utf8)) && bytes.count >= boxed.utf8.count + 8 && contains(bytes, Array(boxed.utf8)),
                "extractBoxed gave '\(boxed)', not a piece of the text")
    }
    // Equivalence is symmetric, and reflexive for every answer that normalises to something.
    let ab = answersEquivalent(text, reference), ba = answersEquivalent(reference, text)
    require(ab == ba, "answersEquivalent(a, b) = \(ab) but (b, a) = \(ba)")
    for s in [text, reference] {
        require(answersEquivalent(s, s) == !normalizeAnswer(s).isEmpty, "'\(s)' is not equivalent to itself")
    }
    // No answer is equivalent to two different numbers (the tolerance is relative, 1e-6).
    require(!(answersEquivalent(text, "1") && answersEquivalent(text, "2")), "'\(text)' is equivalent to both 1 and 2")
    // The policy's final-answer sentence gives back the answer written into it.
    let trimmed = reference.trimmingCharacters(in: .whitespacesAndNewlines)
    let sentence = EpisodeFormat.standard.finalAnswer(reference)
    if !reference.contains("\\boxed"), extractBoxed(sentence) == trimmed {
        require(answersEquivalent(sentence, reference) == !normalizeAnswer(reference).isEmpty,
                "'\(sentence)' is not equivalent to '\(reference)'")
    }
    return 0
}
