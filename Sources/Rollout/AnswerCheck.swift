import Foundation

// Final-answer extraction and equivalence (docs/DESIGN.md: final answer = the last \boxed{...} in policy text).

/// The content of the LAST complete \boxed{...} in `text`, braces balanced (so \boxed{\frac{1}{2}} gives
/// "\frac{1}{2}"), trimmed. Escaped braces \{ \} do not count. An unclosed \boxed{ (e.g. a truncated turn)
/// is ignored; nil when there is no complete one. \boxed{} gives "".
public func extractBoxed(_ text: String) -> String? {
    let b = Array(text.utf8)
    let key = Array("\\boxed".utf8)
    var result: String? = nil
    var i = 0
    while i + key.count <= b.count {
        guard b[i] == key[0], Array(b[i..<(i + key.count)]) == key else { i += 1; continue }
        var j = i + key.count
        while j < b.count && b[j] == UInt8(ascii: " ") { j += 1 }
        guard j < b.count, b[j] == UInt8(ascii: "{") else { i += key.count; continue }
        let start = j + 1
        var depth = 1
        var k = start
        while k < b.count {
            let c = b[k]
            if c == UInt8(ascii: "\\") { k += 2; continue }      // \{ \} \\ are not structure
            if c == UInt8(ascii: "{") { depth += 1 }
            if c == UInt8(ascii: "}") { depth -= 1; if depth == 0 { break } }
            k += 1
        }
        if depth == 0 && k < b.count {
            result = String(decoding: b[start..<k], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            i = k + 1
        } else {
            break   // unclosed: nothing after it can be complete either
        }
    }
    return result
}

/// Which text of a trajectory is its final answer. Reports name the rule they used.
public enum AnswerRule: String, Codable, CaseIterable, Sendable {
    /// The last complete \boxed{...} of the policy's text (ToRL, SimpleTIR, MATH).
    case boxed
    /// The last \boxed{...} of the policy's text, else the last number of the response's final part: the
    /// output of the last executed code block and the policy's turn after it (the final turn alone when no
    /// code ran). lm-evaluation-harness's flexible extraction for GSM8K reads the last number of a response
    /// the same way; here the response's tool output counts, as it does in ToRL's response text. For small
    /// models that compute with the tool but rarely box or restate the result.
    case lastNumber

    /// The answer of a trajectory whose policy text is `policyText` and whose final part (see `lastNumber`)
    /// is `finalText`.
    public func answer(policyText: String, finalText: String) -> String? {
        switch self {
        case .boxed: return extractBoxed(policyText)
        case .lastNumber: return extractBoxed(policyText) ?? lastWrittenNumber(in: finalText)
        }
    }
}

/// The last number written in `text`: an optional minus sign, digits with optional thousands commas, an
/// optional decimal part ("44,715,911", "-3.5"); a sentence's period or comma after it is not part of it.
public func lastWrittenNumber(in text: String) -> String? {
    let b = Array(text.utf8)
    func isDigit(_ i: Int) -> Bool { i >= 0 && i < b.count && b[i] >= 48 && b[i] <= 57 }
    var i = b.count - 1
    while i >= 0 && !isDigit(i) { i -= 1 }
    guard i >= 0 else { return nil }
    let end = i + 1
    // Walk back over digits, and over "," or "." that sit between digits.
    while i > 0 && (isDigit(i - 1) || ((b[i - 1] == UInt8(ascii: ",") || b[i - 1] == UInt8(ascii: ".")) && isDigit(i - 2))) {
        i -= 1
    }
    if i > 0 && b[i - 1] == UInt8(ascii: "-") { i -= 1 }
    return String(decoding: b[i..<end], as: UTF8.self)
}

/// Are two final answers the same? Both sides are normalised first (`normalizeAnswer`); then
/// - both integers (after "1,000" -> 1000, "+5" -> 5, "-0" -> 0, "007" -> 7, "12.0" -> 12): exact, digit by
///   digit, so even 20-digit answers must match exactly;
/// - otherwise both numbers (decimals, 1e3, "3/4", \frac{3}{4}, \dfrac34, -\frac{1}{2}) that are finite as
///   Doubles: equal within a relative tolerance of 1e-6;
/// - otherwise the normalised strings must be equal.
/// An empty answer is never equivalent to anything.
public func answersEquivalent(_ a: String, _ b: String) -> Bool {
    let na = normalizeAnswer(a), nb = normalizeAnswer(b)
    if na.isEmpty || nb.isEmpty { return false }
    switch (parseNumber(na), parseNumber(nb)) {
    case (.integer(let x)?, .integer(let y)?):
        return x == y
    case (let x?, let y?) where x.doubleValue.isFinite && y.doubleValue.isFinite:
        // Finite only: an integer of 309+ digits is infinite as a Double and within any relative tolerance of all.
        let u = x.doubleValue, v = y.doubleValue
        return u == v || abs(u - v) <= 1e-6 * max(abs(u), abs(v))
    default:
        return na == nb
    }
}

/// Simple LaTeX normalisation: drops $ signs, spacing commands (\! \, \; \: "\ "), \left / \right, units
/// in a trailing \text{...} (a \text{...} that is the whole answer is unwrapped instead), degrees and
/// percent signs, all whitespace, a trailing period, a short "x =" prefix and enclosing braces;
/// \dfrac and \tfrac become \frac.
public func normalizeAnswer(_ answer: String) -> String {
    var s = answer.trimmingCharacters(in: .whitespacesAndNewlines)
    if s.contains("\\boxed"), let inner = extractBoxed(s) { s = inner }
    for (from, to) in [("\\$", ""), ("$", ""), ("\\!", ""), ("\\,", ""), ("\\;", ""), ("\\:", ""), ("\\ ", " "),
                       ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("^\\circ", ""), ("^{\\circ}", ""),
                       ("\\%", ""), ("\\displaystyle", "")] {
        s = s.replacingOccurrences(of: from, with: to)
    }
    for d in ["(", ")", "[", "]", "|", ".", "\\{", "\\}"] {
        s = s.replacingOccurrences(of: "\\left" + d, with: d == "." ? "" : d)
        s = s.replacingOccurrences(of: "\\right" + d, with: d == "." ? "" : d)
    }
    s = stripTextCommands(s)
    s = String(s.filter { !$0.isWhitespace })
    while s.hasSuffix(".") { s.removeLast() }
    if s.hasSuffix("%") { s.removeLast() }
    // "x=5" -> "5" (a short variable name on the left of a single "=").
    if let eq = s.firstIndex(of: "="), s[s.index(after: eq)...].firstIndex(of: "=") == nil {
        let lhs = s[..<eq]
        if (1...2).contains(lhs.count) && lhs.allSatisfy({ $0.isLetter }) { s = String(s[s.index(after: eq)...]) }
    }
    while s.hasPrefix("{") && s.hasSuffix("}") && bracesBalanced(s.dropFirst().dropLast()) {
        s = String(s.dropFirst().dropLast())
    }
    return s
}

/// \text{...}, \textbf{...}, \mathrm{...}, \mbox{...}: a trailing one after other content is a unit and is
/// dropped ("5\text{ cm}" -> "5"); any other is replaced by its content ("\text{(A)}" -> "(A)").
private func stripTextCommands(_ input: String) -> String {
    var s = input
    for command in ["\\text", "\\textbf", "\\mathrm", "\\mbox"] {
        let open = command + "{"
        while let r = s.range(of: open) {
            // Find the matching close brace.
            var depth = 1
            var k = r.upperBound
            while k < s.endIndex && depth > 0 {
                if s[k] == "{" { depth += 1 } else if s[k] == "}" { depth -= 1 }
                if depth > 0 { k = s.index(after: k) }
            }
            guard k < s.endIndex else { break }   // unbalanced: leave as is
            let content = s[r.upperBound..<k]
            let before = s[..<r.lowerBound], after = s[s.index(after: k)...]
            let isUnit = after.allSatisfy({ $0.isWhitespace || $0 == "." })
                && !before.trimmingCharacters(in: .whitespaces).isEmpty
            s = String(before) + (isUnit ? "" : String(content)) + String(after)
        }
    }
    return s
}

private func bracesBalanced(_ s: Substring) -> Bool {
    var depth = 0
    for c in s {
        if c == "{" { depth += 1 } else if c == "}" { depth -= 1; if depth < 0 { return false } }
    }
    return depth == 0
}

// MARK: - Numbers

enum ParsedNumber: Equatable {
    case integer(String)   // canonical: no leading zeros, "-" only for nonzero values
    case real(Double)

    var doubleValue: Double {
        switch self {
        case .integer(let digits): return Double(digits) ?? .nan
        case .real(let v): return v
        }
    }
}

/// Parses a normalised answer (no whitespace) as a number: integers with optional sign and thousands
/// commas, decimals, scientific notation, "a/b", and \frac{a}{b} / \frac ab with an optional leading sign.
func parseNumber(_ s: String) -> ParsedNumber? {
    if let plain = parsePlainNumber(Substring(s)) { return plain }
    // a/b
    let slashParts = s.split(separator: "/", omittingEmptySubsequences: false)
    if slashParts.count == 2, let p = parsePlainNumber(slashParts[0]), let q = parsePlainNumber(slashParts[1]) {
        return divide(p, q)
    }
    // [sign]\frac{a}{b}
    var rest = Substring(s)
    var negative = false
    if rest.hasPrefix("-") { negative = true; rest = rest.dropFirst() } else if rest.hasPrefix("+") { rest = rest.dropFirst() }
    guard rest.hasPrefix("\\frac") else { return nil }
    rest = rest.dropFirst(5)
    guard let (num, afterNum) = latexArgument(rest), let (den, afterDen) = latexArgument(afterNum), afterDen.isEmpty,
          let p = parseNumber(String(num)), let q = parseNumber(String(den)),
          let v = divide(p, q) else { return nil }
    return negative ? negate(v) : v
}

/// One LaTeX macro argument: "{...}" (balanced) or a single character.
private func latexArgument(_ s: Substring) -> (Substring, Substring)? {
    guard let first = s.first else { return nil }
    if first != "{" { return (s.prefix(1), s.dropFirst()) }
    var depth = 0
    for i in s.indices {
        if s[i] == "{" { depth += 1 } else if s[i] == "}" {
            depth -= 1
            if depth == 0 { return (s[s.index(after: s.startIndex)..<i], s[s.index(after: i)...]) }
        }
    }
    return nil
}

private func divide(_ p: ParsedNumber, _ q: ParsedNumber) -> ParsedNumber? {
    let d = q.doubleValue
    guard d != 0, d.isFinite else { return nil }
    return .real(p.doubleValue / d)
}

private func negate(_ v: ParsedNumber) -> ParsedNumber {
    switch v {
    case .integer(let digits): return digits == "0" ? v : .integer(digits.hasPrefix("-") ? String(digits.dropFirst()) : "-" + digits)
    case .real(let x): return .real(-x)
    }
}

/// [sign] digits [with thousands commas] [.digits] [e[sign]digits]
private func parsePlainNumber(_ s: Substring) -> ParsedNumber? {
    var rest = s
    var negative = false
    if rest.hasPrefix("-") { negative = true; rest = rest.dropFirst() } else if rest.hasPrefix("+") { rest = rest.dropFirst() }
    guard !rest.isEmpty, rest.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "," || $0 == "e" || $0 == "E" || $0 == "-" || $0 == "+") }),
          rest.contains(where: { $0.isNumber }) else { return nil }
    // Split off an exponent.
    var mantissa = rest
    var exponent: Substring? = nil
    if let e = rest.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        mantissa = rest[..<e]
        exponent = rest[rest.index(after: e)...]
        guard let ex = exponent, Int(ex) != nil else { return nil }
    }
    // Integer part with optional thousands commas, optional fraction.
    let dotParts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
    guard dotParts.count <= 2 else { return nil }
    var intPart = dotParts[0]
    let fracPart: Substring = dotParts.count == 2 ? dotParts[1] : ""
    guard fracPart.allSatisfy({ $0.isNumber }), !(intPart.isEmpty && fracPart.isEmpty) else { return nil }
    if intPart.contains(",") {
        let groups = intPart.split(separator: ",", omittingEmptySubsequences: false)
        guard let head = groups.first, (1...3).contains(head.count),
              groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return nil }
        intPart = Substring(groups.joined())
    }
    guard intPart.allSatisfy({ $0.isNumber }) else { return nil }
    if exponent == nil && fracPart.allSatisfy({ $0 == "0" }) && !intPart.isEmpty {
        var digits = String(intPart.drop(while: { $0 == "0" }))
        if digits.isEmpty { digits = "0" }
        return .integer(negative && digits != "0" ? "-" + digits : digits)
    }
    let text = (negative ? "-" : "") + (intPart.isEmpty ? "0" : String(intPart)) + "." + (fracPart.isEmpty ? "0" : String(fracPart))
        + (exponent.map { "e" + $0 } ?? "")
    guard let v = Double(text), v.isFinite else { return nil }
    return .real(v)
}
