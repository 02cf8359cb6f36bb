import Foundation
import XCTest

/// Runs each snippet with real CPython (one process, a fresh namespace per snippet) and returns its stdout,
/// or "EXCEPTION <type>: <message>" when it raised. The ground truth the toy world is checked against.
func runPython(_ snippets: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
    let script = """
    import sys, json, io, contextlib
    out = []
    for code in json.load(sys.stdin):
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                exec(compile(code, "<snippet>", "exec"), {"__name__": "__main__"})
            out.append(buf.getvalue())
        except BaseException as e:
            out.append("EXCEPTION " + type(e).__name__ + ": " + str(e))
    json.dump(out, sys.stdout)
    """
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", script]
    let stdin = Pipe(), stdout = Pipe()
    p.standardInput = stdin
    p.standardOutput = stdout
    do { try p.run() } catch { throw XCTSkip("python3 is not available: \(error)") }
    stdin.fileHandleForWriting.write(try JSONEncoder().encode(snippets))
    try stdin.fileHandleForWriting.close()
    let data = stdout.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    XCTAssertEqual(p.terminationStatus, 0, "python3 harness failed", file: file, line: line)
    return try JSONDecoder().decode([String].self, from: data)
}
