import FuzzSupport
import Rollout

// Turn parsing as the episode engine uses it, on arbitrary policy bytes, and the observation formatter on
// arbitrary tool output. Input: the turn's bytes, then after NUL bytes a stderr text and two bytes for the cap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTurns(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let parts = splitAtNUL(inputBytes(data, size), into: 3)
    checkTurn(parts[0])
    let capBytes = parts[2] + [0, 0]
    checkObservation(stdout: String(decoding: parts[0], as: UTF8.self), stderr: String(decoding: parts[1], as: UTF8.self),
                     failed: capBytes[0] & 1 == 1, cap: (Int(capBytes[0]) | Int(capBytes[1]) << 8) % 700 - 4)
    return 0
}

/// The engine appends one byte at a time and asks `detectTurnEnd` after each "\n" and each last byte of the
/// output marker. The first prefix that ends the turn must be exactly `turnEndOffset` bytes long and end it
/// the same way the whole text does; the code to run is in the text and is its last python block.
private func checkTurn(_ bytes: [UInt8]) {
    let format = EpisodeFormat.standard
    let text = String(decoding: bytes, as: UTF8.self)
    let end = detectTurnEnd(text, format: format)
    let offset = turnEndOffset(text, format: format)
    note("turn end: \(end) at \(String(describing: offset))")
    require((end == .none) == (offset == nil), "detectTurnEnd \(end) but turnEndOffset \(String(describing: offset))")
    let utf8 = Array(text.utf8)
    var probes = utf8.indices.filter { utf8[$0] == UInt8(ascii: "\n") || utf8[$0] == format.outputMarker.utf8.last! }
    if probes.count > 16 {
        // Each probe parses its prefix again: keep an even sample, the last probes before the turn's end and the end.
        let cut = offset.map { end in probes.firstIndex { $0 + 1 >= end } ?? probes.count } ?? probes.count
        let sample = stride(from: 0, to: probes.count, by: probes.count / 12).map { probes[$0] }
        probes = Array(Set(sample + probes[max(0, cut - 3)..<min(probes.count, cut + 1)])).sorted()
    }
    for i in probes {
        let prefixEnd = detectTurnEnd(String(decoding: utf8[...i], as: UTF8.self), format: format)
        if let offset, i + 1 >= offset {
            require(i + 1 == offset, "the turn ends at byte \(offset), which the engine never probes")
            require(prefixEnd == end, "cut at \(offset) bytes the turn ends as \(prefixEnd), the whole text as \(end)")
            break
        }
        require(prefixEnd == .none, "a \(i + 1)-byte prefix ends the turn (\(prefixEnd)), but turnEndOffset is \(String(describing: offset))")
    }
    require(turnCode(text, format: format) == { () -> String? in
        switch end { case .codeClosed(let c): return c; case .outputMarker(let c): return c; case .none: return nil }
    }(), "turnCode disagrees with detectTurnEnd")
    if case .codeClosed(let code) = end, let offset {
        require(contains(utf8, Array(code.utf8)), "the code to run is not in the turn: \(code)")
        let turn = String(decoding: utf8[..<offset], as: UTF8.self)
        require(lastCompletePythonBlock(in: turn, format: format) == code, "the turn's last python block is not its code")
    }
    if let code = lastCompletePythonBlock(in: text, format: format) {
        require(contains(utf8, Array(code.utf8)), "the last python block is not in the text: \(code)")
    }
}

/// The observation fits the cap (or is the fixed empty-output text), keeps the text when it fits, and is cut
/// only on character boundaries into a head and a tail of the text. SimpleTIR's style keeps its first and last
/// characters after its prefix.
private func checkObservation(stdout: String, stderr: String, failed: Bool, cap: Int) {
    let obs = formatObservation(stdout: stdout, stderr: stderr, failed: failed, cap: cap)
    note("observation (cap \(cap), failed \(failed)): \(obs.debugDescription)")
    require(obs == emptyObservation || obs.utf8.count <= max(cap, 0), "\(obs.utf8.count) bytes over a cap of \(cap)")
    let source = failed ? stderr : stdout
    if !source.unicodeScalars.contains("\u{FFFD}") {
        require(!obs.unicodeScalars.contains("\u{FFFD}"), "the cut split a character")
    }
    let simple = ObservationStyle.simpletir.format(stdout: stdout, stderr: stderr, failed: failed, cap: cap)
    let uncut = formatObservation(stdout: stdout, stderr: stderr, failed: failed, cap: Int.max)
    let prefix = ObservationStyle.simpleTIRPrefix, keep = ObservationStyle.simpleTIRKeep
    // (Characters can fuse where the pieces join, e.g. the prefix's space with a variation selector, so the
    // prefix is compared as bytes, and a cut observation has at most, not exactly, that many Characters.)
    if uncut.count > 2 * keep {
        require(simple.utf8.starts(with: prefix.utf8), "SimpleTIR observation without its prefix: \(simple.debugDescription)")
        require(contains(Array(simple.utf8), Array(observationTruncationMarker.utf8)), "cut SimpleTIR observation without the marker")
        require(simple.count <= prefix.count + 2 * keep + observationTruncationMarker.count,
                "cut SimpleTIR observation of \(simple.count) characters")
    } else {
        require(simple == prefix + uncut, "SimpleTIR observation of \(uncut.count) characters: \(simple.debugDescription)")
    }
    guard !failed, obs != emptyObservation else { return }
    var full = Array(stdout.utf8)   // without the trailing line breaks the formatter drops
    while let last = full.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { full.removeLast() }
    let out = Array(obs.utf8)
    if let mark = range(of: Array(observationTruncationMarker.utf8), in: out), !contains(full, Array(observationTruncationMarker.utf8)) {
        require(full.starts(with: out[..<mark.lowerBound]) && full.reversed().starts(with: out[mark.upperBound...].reversed()),
                "the truncated observation is not a head and a tail of stdout")
    } else {
        require(full.starts(with: out), "the observation is not a prefix of stdout")
    }
}
