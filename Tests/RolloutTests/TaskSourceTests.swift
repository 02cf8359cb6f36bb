import XCTest
@testable import Rollout

final class TaskSourceTests: XCTestCase {
    func testParsesCommonShapes() throws {
        let text = """
        {"problem": "What is 1+1?", "answer": "2"}

        {"question": "Half of one?", "solution": "We get \\\\boxed{\\\\frac{1}{2}} and then \\\\boxed{\\\\dfrac{1}{2}}.", "unique_id": "m/1"}
        {"question": "Count", "answer": 5}
        {"question": "Ratio", "answer": 0.25, "id": 7}
        """
        let tasks = try parseJSONLTasks(text, fileName: "d.jsonl")
        XCTAssertEqual(tasks.count, 4)
        XCTAssertEqual(tasks[0], MathTask(id: "d.jsonl:1", question: "What is 1+1?", answer: "2", kind: "jsonl", steps: 0))
        XCTAssertEqual(tasks[1].answer, "\\dfrac{1}{2}")
        XCTAssertEqual(tasks[1].id, "m/1")
        XCTAssertEqual(tasks[2].answer, "5")
        XCTAssertEqual(tasks[3].answer, "0.25")
        XCTAssertEqual(tasks[3].id, "7")
    }

    func testHeldOutSplitIsDisjointSeededAndKeepsOrder() {
        let tasks = (0..<50).map { MathTask(id: "t\($0)", question: "q\($0)", answer: "\($0)", kind: "jsonl", steps: 0) }
        let (train, held) = heldOutSplit(tasks, fraction: 0.1, seed: 3)
        XCTAssertEqual(held.count, 5)
        XCTAssertEqual(train.count, 45)
        XCTAssertTrue(Set(train.map(\.id)).isDisjoint(with: held.map(\.id)))
        XCTAssertEqual(train.map(\.id), train.map(\.id).sorted { Int($0.dropFirst())! < Int($1.dropFirst())! })
        XCTAssertEqual(heldOutSplit(tasks, fraction: 0.1, seed: 3).heldOut, held)
        XCTAssertNotEqual(heldOutSplit(tasks, fraction: 0.1, seed: 4).heldOut, held)
        XCTAssertEqual(heldOutSplit(tasks, fraction: 0.01, seed: 3).heldOut.count, 1, "a positive fraction holds out one at least")
        XCTAssertEqual(heldOutSplit(tasks, fraction: 0, seed: 3).train, tasks)
    }

    func testCRLFLines() throws {
        let tasks = try parseJSONLTasks("{\"problem\": \"p\", \"answer\": \"3\"}\r\n{\"problem\": \"q\", \"answer\": \"4\"}\r\n")
        XCTAssertEqual(tasks.map(\.answer), ["3", "4"])
    }

    func testErrorsNameTheLine() {
        let cases: [(String, Int, String)] = [
            ("{\"question\": \"a\", \"answer\": \"1\"}\n{not json}\n", 2, "JSON"),
            ("{\"question\": \"a\", \"answer\": \"1\"}\n\n{\"answer\": \"1\"}\n", 3, "question"),
            ("{\"question\": \"a\"}\n", 1, "answer"),
            ("{\"question\": \"a\", \"solution\": \"no box\"}\n", 1, "boxed"),
            ("[1, 2]\n", 1, "JSON object"),
        ]
        for (text, line, word) in cases {
            XCTAssertThrowsError(try parseJSONLTasks(text, fileName: "x.jsonl")) { error in
                guard let e = error as? TaskLoadError else { return XCTFail("\(error)") }
                XCTAssertEqual(e.line, line, e.description)
                XCTAssertTrue(e.description.hasPrefix("x.jsonl:\(line): "), e.description)
                XCTAssertTrue(e.description.contains(word), e.description)
            }
        }
    }

    func testLoadFromFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rollout-tasks-\(getpid()).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try "{\"problem\": \"p\", \"answer\": \"3\"}\n{\"problem\": \"q\"}\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try loadJSONLTasks(url)) { e in
            XCTAssertEqual((e as? TaskLoadError)?.line, 2)
        }
        try "{\"problem\": \"p\", \"answer\": \"3\"}\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertEqual(try loadJSONLTasks(url).map(\.answer), ["3"])
        XCTAssertThrowsError(try loadJSONLTasks(URL(fileURLWithPath: "/nonexistent/x.jsonl"))) { e in
            XCTAssertTrue("\(e)".contains("cannot read"), "\(e)")
        }
        let source = ArrayTaskSource(try loadJSONLTasks(url))
        XCTAssertEqual(source.count, 1)
    }
}
