import Foundation

/// One problem with its reference answer. `kind` names the family ("product_offset", "jsonl", ...);
/// `steps` is the number of tool calls the reference solution uses (0 when unknown, e.g. a JSONL dataset).
public struct MathTask: Codable, Sendable, Equatable {
    public var id: String
    public var question: String
    public var answer: String
    public var kind: String
    public var steps: Int

    public init(id: String, question: String, answer: String, kind: String, steps: Int) {
        self.id = id
        self.question = question
        self.answer = answer
        self.kind = kind
        self.steps = steps
    }
}

/// Where tasks come from. Finite sources (a held-out split, a JSONL file) have a `count`; an unbounded
/// generator (the toy world's train split) has `count == nil` and answers any index >= 0.
public protocol TaskSource {
    var count: Int? { get }
    func task(at index: Int) -> MathTask
}

extension TaskSource {
    /// A training batch of `size` tasks, a pure function of (seed, step): indices are drawn with replacement
    /// from the whole source, so a finite source of any size works and every step is reproducible.
    public func batch(step: Int, size: Int, seed: UInt64) -> [MathTask] {
        var rng = ToyRNG(seed: seed, stream: 0x6261_7463_68, index: UInt64(truncatingIfNeeded: step))
        let upper = Int64((count ?? (1 << 40)) - 1)
        precondition(upper >= 0, "batch(step:size:seed:) on an empty task source")
        return (0..<size).map { _ in task(at: Int(rng.int(0...upper))) }
    }

    /// The first `k` tasks (all of them for a shorter finite source): the evaluation set.
    public func first(_ k: Int) -> [MathTask] {
        let n = count.map { min($0, k) } ?? k
        return (0..<max(0, n)).map { task(at: $0) }
    }
}

/// A finite list of tasks, e.g. the toy world's held-out split or a loaded JSONL dataset.
public struct ArrayTaskSource: TaskSource, Sendable {
    public var tasks: [MathTask]
    public init(_ tasks: [MathTask]) { self.tasks = tasks }
    public var count: Int? { tasks.count }
    public func task(at index: Int) -> MathTask { tasks[index] }
}

/// Splits a dataset into train and held-out parts: a seeded shuffle, then the first `fraction` (rounded,
/// at least one task when `fraction > 0`) is held out. Both parts keep the file's order.
public func heldOutSplit(_ tasks: [MathTask], fraction: Double, seed: UInt64) -> (train: [MathTask], heldOut: [MathTask]) {
    guard fraction > 0, !tasks.isEmpty else { return (tasks, []) }
    var order = Array(tasks.indices)
    var rng = ToyRNG(seed: seed, stream: 0x68_656c_64, index: 0)
    for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.int(0...i)) }
    let n = max(1, Int((Double(tasks.count) * fraction).rounded()))
    let held = Set(order.prefix(n))
    return (tasks.indices.filter { !held.contains($0) }.map { tasks[$0] }, held.sorted().map { tasks[$0] })
}

// MARK: - JSONL datasets

/// A malformed dataset file; `line` is 1-based (0 when the file itself could not be read).
public struct TaskLoadError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var message: String
    public var description: String {
        line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
    }
}

/// Loads `{"question"|"problem": ..., "answer"|"solution": ...}` records, one JSON object per line: GSM8K form
/// (an "answer" ending in "#### N": N is the answer) and MATH form (DeepScaleR, NuminaMath: when only a
/// "solution" is given, the answer is its last \boxed{...}).
/// Blank lines are skipped. An "id" or "unique_id" field is kept; otherwise the id is "<file name>:<line>".
public func loadJSONLTasks(_ url: URL, kind: String = "jsonl") throws -> [MathTask] {
    let name = url.lastPathComponent
    let data: Data
    do {
        data = try Data(contentsOf: url)
    } catch {
        throw TaskLoadError(file: url.path, line: 0, message: "cannot read the file: \(error.localizedDescription)")
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw TaskLoadError(file: url.path, line: 0, message: "the file is not valid UTF-8")
    }
    let tasks = try parseJSONLTasks(text, fileName: name, kind: kind)
    if tasks.isEmpty { throw TaskLoadError(file: url.path, line: 0, message: "the file contains no tasks") }
    return tasks
}

/// The parser behind `loadJSONLTasks`, on text already in memory.
public func parseJSONLTasks(_ text: String, fileName: String = "<memory>", kind: String = "jsonl") throws -> [MathTask] {
    var tasks: [MathTask] = []
    for (i, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
        let lineNo = i + 1
        let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
        if line.isEmpty { continue }
        func fail(_ msg: String) -> TaskLoadError { TaskLoadError(file: fileName, line: lineNo, message: msg) }

        let record: JSONLRecord
        do {
            record = try JSONDecoder().decode(JSONLRecord.self, from: Data(line.utf8))
        } catch {
            throw fail("not a valid JSON object: \(line.prefix(60))")
        }
        guard let question = (record.question ?? record.problem)?.text, !question.isEmpty else {
            throw fail("missing a non-empty \"question\" or \"problem\" string")
        }
        let answer: String
        if let a = record.answer?.text?.trimmingCharacters(in: .whitespacesAndNewlines), !a.isEmpty {
            // GSM8K: the worked solution, then "#### 72"; the answer is what follows the last "####".
            if let mark = a.range(of: "####", options: .backwards) {
                answer = a[mark.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines)
                guard !answer.isEmpty else { throw fail("the \"answer\" ends in \"####\" with nothing after it") }
            } else {
                answer = a
            }
        } else if let solution = record.solution?.text {
            guard let boxed = extractBoxed(solution), !boxed.isEmpty else {
                throw fail("no \"answer\" and the \"solution\" has no \\boxed{...} answer")
            }
            answer = boxed
        } else {
            throw fail("missing an \"answer\" or \"solution\" field")
        }
        let id = (record.id ?? record.unique_id)?.text ?? "\(fileName):\(lineNo)"
        tasks.append(MathTask(id: id, question: question, answer: answer, kind: kind, steps: 0))
    }
    return tasks
}

private struct JSONLRecord: Decodable {
    var question, problem, answer, solution, id, unique_id: JSONScalar?
}

/// A JSON string or number as text (5 -> "5", 0.5 -> "0.5"); booleans, arrays, objects and null give nil.
private struct JSONScalar: Decodable {
    var text: String?
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { text = s }
        else if let i = try? c.decode(Int64.self) { text = String(i) }
        else if let d = try? c.decode(Double.self) { text = String(d) }
        else { text = nil }
    }
}
