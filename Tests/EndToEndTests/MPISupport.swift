import Foundation
import XCTest
import Training

/// Runs the built `tir` with `args` (under `mpirun --oversubscribe -np ranks` when ranks > 1) to its end and
/// returns stdout and stderr combined; `whileRunning` acts on the job meanwhile (kills a rank, say).
func runTir(_ tir: URL, ranks: Int, _ args: [String], expectSuccess: Bool = true,
            whileRunning: ((Process) throws -> Void)? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    guard ranks > 1 else {
        return try runProcess(tir, args, expectSuccess: expectSuccess, whileRunning: whileRunning, file: file, line: line)
    }
    let mpirun = "/usr/bin/mpirun"
    let executable = try XCTUnwrap(FileManager.default.isExecutableFile(atPath: mpirun) ? URL(fileURLWithPath: mpirun) : nil,
                                   "mpirun not found: scripts/setup.sh installs openmpi-bin")
    return try runProcess(executable, ["--oversubscribe", "--allow-run-as-root", "-np", "\(ranks)", tir.path] + args,
                          expectSuccess: expectSuccess, whileRunning: whileRunning, file: file, line: line)
}

/// Runs `executable args` to its end and returns stdout and stderr combined, asserting its exit status;
/// with `timeout`, a process still running after that many seconds is terminated and fails the test.
func runProcess(_ executable: URL, _ args: [String], expectSuccess: Bool = true, timeout: Double? = nil,
                whileRunning: ((Process) throws -> Void)? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe; p.standardError = pipe
    let start = Date()
    try p.run()
    let watchdog = DispatchWorkItem { if p.isRunning { p.terminate() } }
    if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog) }
    defer { watchdog.cancel() }
    try whileRunning?(p)
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    if let timeout {
        XCTAssertLessThan(Date().timeIntervalSince(start), timeout, "the job hung and was terminated: \(text)", file: file, line: line)
    }
    if expectSuccess {
        XCTAssertEqual(p.terminationStatus, 0, text, file: file, line: line)
    } else {
        XCTAssertNotEqual(p.terminationStatus, 0, text, file: file, line: line)
    }
    return text
}

/// The pid of the `tir` process that is rank `rank` of a running job (from its MPI environment).
func rankPid(_ rank: Int, of tir: URL) -> Int32? {
    let fm = FileManager.default
    for name in (try? fm.contentsOfDirectory(atPath: "/proc")) ?? [] where name.allSatisfy(\.isNumber) {
        guard let env = fm.contents(atPath: "/proc/\(name)/environ"),
              let cmd = fm.contents(atPath: "/proc/\(name)/cmdline"),
              String(decoding: cmd, as: UTF8.self).hasPrefix(tir.path) else { continue }
        let vars = env.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        if vars.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return Int32(name) }
    }
    return nil
}

/// A run directory's metrics lines without the timings (which differ between any two runs).
func untimedMetrics(_ dir: URL) throws -> [[String: Double]] {
    try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n").map { line in
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return obj.compactMapValues { ($0 as? NSNumber)?.doubleValue }.filter { !MetricNames.isTiming($0.key) }
    }
}

/// Two GRPO runs with the same metrics (timings aside) and weights (to 1e-6: a sum over ranks adds in another order).
func assertSameRun(_ a: URL, _ b: URL, file: StaticString = #filePath, line: UInt = #line) throws {
    let ma = try untimedMetrics(a), mb = try untimedMetrics(b)
    XCTAssertEqual(ma.count, mb.count, file: file, line: line)
    for (x, y) in zip(ma, mb) {
        XCTAssertEqual(Set(x.keys), Set(y.keys), file: file, line: line)
        for (k, v) in x {
            let w = y[k] ?? .nan
            XCTAssertLessThanOrEqual(abs(v - w), 1e-6 * max(1, abs(v)), "\(k) at step \(x["step"] ?? 0)", file: file, line: line)
        }
    }
    let pa = try loadPolicy(a), pb = try loadPolicy(b)
    var worst: Float = 0
    for i in 0..<pa.arena.count { worst = max(worst, abs(pa.arena.data[i] - pb.arena.data[i])) }
    XCTAssertLessThanOrEqual(worst, 1e-6, "weights differ", file: file, line: line)
}
