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
