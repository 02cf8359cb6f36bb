import Foundation
import FuzzSupport
import Rollout

// loadJSONLTasks (what `tir eval --data FILE` calls) on arbitrary bytes: it returns tasks with a question and an
// answer, one per non-blank line, or throws a TaskLoadError whose line number points at a non-blank line.
private let file = ScratchFile("tasks.jsonl")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONL(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    let url = file.write(bytes)
    // Lines as an editor numbers them (split on "\n"; a "\r" before it belongs to the line ending).
    let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    let blank = lines.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
    do {
        let tasks = try loadJSONLTasks(url)
        note("tasks: \(tasks)")
        require(!tasks.isEmpty && tasks.count <= blank.filter { !$0 }.count,
                "\(tasks.count) tasks from \(blank.filter { !$0 }.count) non-blank lines")
        for t in tasks {
            require(!t.question.isEmpty, "a task without a question: \(t)")
            require(!t.answer.isEmpty && t.answer == t.answer.trimmingCharacters(in: .whitespacesAndNewlines),
                    "an empty or untrimmed answer: \(t)")
            require(t.kind == "jsonl" && t.steps == 0, "kind/steps of a JSONL task: \(t)")
        }
        // A task without an id is named after its line: a non-blank one, later than the previous task's.
        let defaultIDLines = tasks.compactMap { t -> Int? in
            t.id.hasPrefix(url.lastPathComponent + ":") ? Int(t.id.dropFirst(url.lastPathComponent.count + 1)) : nil
        }
        for (i, n) in defaultIDLines.enumerated() {
            require(n >= 1 && n <= lines.count && !blank[n - 1] && (i == 0 || n > defaultIDLines[i - 1]),
                    "default id line \(n) in \(defaultIDLines)")
        }
    } catch let e as TaskLoadError {
        note("error: \(e)")
        require(e.line >= 0 && e.line <= lines.count, "line \(e.line) of a \(lines.count)-line file: \(e)")
        if e.line > 0 { require(!blank[e.line - 1], "the error names blank line \(e.line): \(e)") }
        require(!e.message.isEmpty, "a TaskLoadError without a message")
    } catch {
        require(false, "loadJSONLTasks threw \(type(of: error)), not a TaskLoadError: \(error)")
    }
    return 0
}
