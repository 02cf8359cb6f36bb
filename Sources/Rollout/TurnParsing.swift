// Helpers for the episode engine, applied to the text of the CURRENT policy turn (or any policy text).
//
// Fences follow markdown: a line starting with ``` opens a block whose language is the rest of the line;
// a line that is exactly ``` (trailing spaces allowed) closes it. So a fence inside a string literal
// (print("```")) never opens or closes anything, and an ```output block in a full episode is skipped.

/// How the current policy turn ended, if it did.
public enum TurnEnd: Equatable, Sendable {
    /// The policy closed a ```python block: run `code`.
    case codeClosed(code: String)
    /// The policy wrote the "```output" marker itself (ToRL's stop string). If it did so inside an open
    /// python block ("```python\nprint(1)\n```output"), the marker closes that block and `code` is its
    /// content; otherwise `code` is nil (nothing to run; a complete block before the marker would already
    /// have ended the turn).
    case outputMarker(code: String?)
    /// Neither yet: keep decoding.
    case none
}

/// One fence-level event of a text, in order.
private enum FenceEvent {
    case pythonBlock(code: String, end: Int)   // end: UTF-8 offset just past the closing "```\n"
    case outputMarker(code: String?, end: Int)  // end: UTF-8 offset just past "```output"
}

/// Scans `text` line by line and reports complete python blocks and output markers, in order.
/// `stopAtMarker`: stop at the first output marker (turn semantics) instead of treating it as an opening fence.
private func scanFences(_ text: String, format: EpisodeFormat, stopAtMarker: Bool) -> [FenceEvent] {
    let marker = format.outputMarker
    var events: [FenceEvent] = []
    var openLanguage: Substring? = nil     // nil: outside any block
    var codeLines: [Substring] = []
    var offset = 0
    // Split on the byte "\n" (not on Characters: Swift treats "\r\n" as one Character).
    let lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Substring($0) }
    for (i, line) in lines.enumerated() {
        let terminated = i < lines.count - 1          // the last piece has no "\n" after it (yet)
        let lineEnd = offset + line.utf8.count + (terminated ? 1 : 0)
        defer { offset = lineEnd }
        if stopAtMarker && line.utf8.starts(with: marker.utf8) {
            // The marker counts as soon as it is written, also without a newline and also inside an open block.
            // Compared as bytes, as the engine sees them: a combining mark written after it (which would fuse
            // with its last Character) comes too late to undo it.
            let code = openLanguage.map { isCodeLanguage($0, format) } == true ? codeLines.joined(separator: "\n") : nil
            events.append(.outputMarker(code: code, end: offset + marker.utf8.count))
            break
        }
        guard terminated else { break }                // an unfinished line cannot open or close a fence
        let trimmed = line.trimmingTrailingWhitespace()
        if let language = openLanguage {
            if trimmed == "```" {
                if isCodeLanguage(language, format) {
                    events.append(.pythonBlock(code: codeLines.joined(separator: "\n"), end: lineEnd))
                }
                openLanguage = nil
            } else {
                codeLines.append(line)
            }
        } else if trimmed.hasPrefix("```") {
            openLanguage = trimmed.dropFirst(3).drop(while: { $0 == " " })
            codeLines = []
        }
    }
    return events
}

/// "```python" opens a code block ("```py" too when the language is python).
private func isCodeLanguage(_ language: Substring, _ format: EpisodeFormat) -> Bool {
    language == format.codeLanguage || (format.codeLanguage == "python" && language == "py")
}

private extension Substring {
    func trimmingTrailingWhitespace() -> Substring {
        var s = self
        while let last = s.last, last == " " || last == "\t" || last == "\r" { s = s.dropLast() }
        return s
    }
}

/// Did the current policy turn end? The FIRST event counts: a closed python block ("```python\n...\n```\n")
/// or the output marker at the start of a line. Call it as text arrives (each byte token); if more text
/// follows the event, `turnEndOffset` says where the turn should have been cut.
public func detectTurnEnd(_ turnText: String, format: EpisodeFormat = .standard) -> TurnEnd {
    guard let first = scanFences(turnText, format: format, stopAtMarker: true).first else { return .none }
    switch first {
    case .pythonBlock(let code, _):
        return .codeClosed(code: code)
    case .outputMarker(let code, _):
        return .outputMarker(code: code)
    }
}

/// UTF-8 length of the turn up to and including its ending event (nil while the turn has not ended).
public func turnEndOffset(_ turnText: String, format: EpisodeFormat = .standard) -> Int? {
    switch scanFences(turnText, format: format, stopAtMarker: true).first {
    case .pythonBlock(_, let end)?: return end
    case .outputMarker(_, let end)?: return end
    case nil: return nil
    }
}

/// The code of the last complete python block in `text` (a turn, or a whole episode: ```output blocks
/// are skipped as ordinary fenced blocks). Nil when there is none.
public func lastCompletePythonBlock(in text: String, format: EpisodeFormat = .standard) -> String? {
    for event in scanFences(text, format: format, stopAtMarker: false).reversed() {
        if case .pythonBlock(let code, _) = event { return code }
    }
    return nil
}

/// Does the text contain a final answer (a complete \boxed{...})?
public func hasFinalAnswer(_ text: String) -> Bool { extractBoxed(text) != nil }

/// The code the runner should execute for this turn: the block that ended it (see `detectTurnEnd`).
public func turnCode(_ turnText: String, format: EpisodeFormat = .standard) -> String? {
    switch detectTurnEnd(turnText, format: format) {
    case .codeClosed(let code): return code
    case .outputMarker(let code): return code
    case .none: return nil
    }
}

/// SimpleTIR's void turn: no complete code block and no final answer (`answer` under `rule`; SimpleTIR's is a
/// complete \boxed{...}), or cut off by a token limit.
public func isVoidTurn(text: String, cutByLimit: Bool, format: EpisodeFormat = .standard,
                       answer: VoidTurnAnswer = .boxed, rule: AnswerRule = .boxed) -> Bool {
    if cutByLimit { return true }
    return turnCode(text, format: format) == nil && !answer.hasAnswer(text, rule: rule)
}

// MARK: - Observations

/// Observation text for an empty stdout of a successful run (so the policy sees that nothing was printed).
public let emptyObservation = "(no output)"
/// Inserted between head and tail of an observation longer than the cap.
public let observationTruncationMarker = "\n...[truncated]...\n"

/// What the runner shows the policy (without the ```output fences, see `EpisodeFormat.observationBlock`):
/// stdout on success, the last non-empty line of stderr on failure (e.g. "NameError: name 'comb' is not
/// defined"), trailing newlines removed; empty -> `emptyObservation`. Longer than `cap` UTF-8 bytes (= tokens
/// of the byte tokenizer) -> head + `observationTruncationMarker` + tail, `cap` bytes in all, cut on
/// character boundaries.
public func formatObservation(stdout: String, stderr: String, failed: Bool, cap: Int = 512) -> String {
    var text: Substring
    if failed {
        let lastLine = stderr.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .last { !$0.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" } }
        text = lastLine ?? ""
        if text.isEmpty { text = "error (no message)" }
    } else {
        text = Substring(stdout)
    }
    while let last = text.last, last == "\n" || last == "\r\n" || last == "\r" { text = text.dropLast() }
    if text.isEmpty { return emptyObservation }
    return truncateMiddle(String(text), cap: cap)
}

/// Head + marker + tail within `cap` UTF-8 bytes; unchanged when it already fits.
func truncateMiddle(_ text: String, cap: Int) -> String {
    let bytes = Array(text.utf8)
    if bytes.count <= cap { return text }
    let budget = cap - observationTruncationMarker.utf8.count
    if budget < 2 { return String(decoding: bytes[..<boundaryAtOrBefore(bytes, max(0, cap))], as: UTF8.self) }
    // Cut on UTF-8 character boundaries (never in the middle of a multi-byte sequence).
    let headEnd = boundaryAtOrBefore(bytes, budget / 2)
    var tailStart = bytes.count - (budget - budget / 2)
    while tailStart < bytes.count && (bytes[tailStart] & 0xC0) == 0x80 { tailStart += 1 }
    return String(decoding: bytes[..<headEnd], as: UTF8.self) + observationTruncationMarker
        + String(decoding: bytes[tailStart...], as: UTF8.self)
}

private func boundaryAtOrBefore(_ bytes: [UInt8], _ i: Int) -> Int {
    var i = min(i, bytes.count)
    while i > 0 && i < bytes.count && (bytes[i] & 0xC0) == 0x80 { i -= 1 }
    return i
}

/// How tool output is shown to the policy inside the observation block.
public enum ObservationStyle: String, Codable, CaseIterable, Sendable {
    /// ToRL: `formatObservation` with the rollout's observation cap.
    case torl
    /// SimpleTIR: "Code execution result: " + the same text (stdout, or stderr's last line on failure), cut to
    /// its first and last `simpleTIRKeep` characters; the observation cap does not apply.
    case simpletir

    public static let simpleTIRPrefix = "Code execution result: "
    public static let simpleTIRKeep = 256

    public func format(stdout: String, stderr: String, failed: Bool, cap: Int) -> String {
        switch self {
        case .torl:
            return formatObservation(stdout: stdout, stderr: stderr, failed: failed, cap: cap)
        case .simpletir:
            let full = formatObservation(stdout: stdout, stderr: stderr, failed: failed, cap: Int.max)
            let text = full.count > 2 * Self.simpleTIRKeep
                ? String(full.prefix(Self.simpleTIRKeep)) + observationTruncationMarker + String(full.suffix(Self.simpleTIRKeep))
                : full
            return Self.simpleTIRPrefix + text
        }
    }
}
