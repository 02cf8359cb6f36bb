import XCTest
@testable import Rollout

final class AnswerCheckTests: XCTestCase {
    func testExtractBoxed() {
        XCTAssertEqual(extractBoxed("The answer is \\boxed{1743559}."), "1743559")
        XCTAssertEqual(extractBoxed("\\boxed{\\frac{1}{2}}"), "\\frac{1}{2}")
        XCTAssertEqual(extractBoxed("\\boxed{\\dfrac{\\sqrt{3}}{2}} done"), "\\dfrac{\\sqrt{3}}{2}")
        XCTAssertEqual(extractBoxed("first \\boxed{1}, then \\boxed{ 2 }"), "2")            // the last one
        XCTAssertEqual(extractBoxed("\\boxed{5} and a cut-off \\boxed{12"), "5")            // unclosed ignored
        XCTAssertEqual(extractBoxed("\\boxed {7}"), "7")
        XCTAssertEqual(extractBoxed("\\boxed{\\{1,2\\}}"), "\\{1,2\\}")                     // escaped braces
        XCTAssertEqual(extractBoxed("\\boxed{}"), "")
        XCTAssertNil(extractBoxed("no answer here"))
        XCTAssertNil(extractBoxed("\\boxed"))
        XCTAssertNil(extractBoxed("\\boxed{"))
        XCTAssertNil(extractBoxed("boxed{3}"))
    }

    func testEquivalentTrue() {
        let pairs: [(String, String)] = [
            ("12", "12.0"), ("12", " 12 "), ("1,000", "1000"), ("+5", "5"), ("-0", "0"), ("007", "7"),
            ("1/2", "0.5"), ("\\frac{1}{2}", "\\dfrac{1}{2}"), ("\\frac{3}{4}", "0.75"), ("\\dfrac34", "3/4"),
            ("\\tfrac{3}{4}", ".75"), ("-\\frac{1}{2}", "-0.5"), ("\\frac{-1}{2}", "-1/2"), ("1e3", "1000"),
            ("$12$", "12"), ("5\\text{ cm}", "5"), ("\\text{(A)}", "(A)"), ("50\\%", "50"), ("90^\\circ", "90"),
            ("\\left(1, 2\\right)", "(1,2)"), ("x = 5", "5"), ("12.", "12"), ("{12}", "12"),
            ("1\\!000", "1000"), ("0.3333333", "0.33333333"), ("\\boxed{42}", "42"), ("abc", "abc"),
            ("123456789012345678901234567890", "123456789012345678901234567890"),
        ]
        for (a, b) in pairs {
            XCTAssertTrue(answersEquivalent(a, b), "\(a) vs \(b)")
            XCTAssertTrue(answersEquivalent(b, a), "\(b) vs \(a)")
        }
    }

    func testEquivalentFalse() {
        let pairs: [(String, String)] = [
            ("12", "121"), ("3", ""), ("", ""), ("12", "12.5"), ("-3", "3"), ("1,00", "100"), ("1,2", "12"),
            ("1/2", "0.51"), ("\\frac{1}{2}", "\\frac{2}{1}"), ("1743559", "1743558"), ("1743559", "174355"),
            ("123456789012345678901234567890", "123456789012345678901234567891"),   // beyond Double precision
            ("1/0", "0"), ("(1,2)", "(2,1)"), ("abc", "abd"), ("12", "twelve"), ("0.5", "5"),
        ]
        for (a, b) in pairs {
            XCTAssertFalse(answersEquivalent(a, b), "\(a) vs \(b)")
            XCTAssertFalse(answersEquivalent(b, a), "\(b) vs \(a)")
        }
    }

    /// Found by Fuzz/ (fuzz-answers: "no answer is equivalent to both 1 and 2"): an integer of 309+ digits is
    /// infinite as a Double, and infinity was within the relative tolerance of every real number, so a policy
    /// could match any non-integer reference (or, as a fraction over 1, any reference at all) with one long number.
    func testHugeIntegerIsNotEquivalentToEveryNumber() {
        let huge = String(repeating: "9", count: 400)
        for reference in ["0.25", "-3.5", "\\frac{1}{3}", "1", "2", "0", huge + "8"] {
            for answer in [huge + ".5", huge + "/1", "\\frac{\(huge)}{1}"] {
                XCTAssertFalse(answersEquivalent(answer, reference), "400 nines as \(answer.suffix(5)) vs \(reference.prefix(8))")
                XCTAssertFalse(answersEquivalent(reference, answer), "\(reference.prefix(8)) vs 400 nines as \(answer.suffix(5))")
            }
        }
        XCTAssertFalse(answersEquivalent(huge, "0.25"))
        XCTAssertTrue(answersEquivalent(huge, huge + ".0"))            // integers still compare digit by digit
        XCTAssertTrue(answersEquivalent(huge + "/1", huge + "/1"))     // and equal text is still equal
    }

    func testNormalize() {
        XCTAssertEqual(normalizeAnswer(" \\dfrac{1}{2} "), "\\frac{1}{2}")
        XCTAssertEqual(normalizeAnswer("$\\left[ 1, 2 \\right]$."), "[1,2]")
        XCTAssertEqual(parseNumber("1,234,567"), .integer("1234567"))
        XCTAssertEqual(parseNumber("-000"), .integer("0"))
        XCTAssertEqual(parseNumber("-12.000"), .integer("-12"))
        XCTAssertNil(parseNumber("inf"))
        XCTAssertNil(parseNumber("nan"))
        XCTAssertNil(parseNumber("1.2.3"))
        XCTAssertNil(parseNumber("--1"))
    }
}
