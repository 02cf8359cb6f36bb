import ArgumentParser
import Distributed
import Foundation
import Tensor

/// Prints a one-line live status: rewrites the line on a terminal, plain lines otherwise (logs, CI).
enum Status {
    static let isTTY = isatty(STDERR_FILENO) != 0

    static func line(_ s: String, final: Bool = false) {
        if isTTY {
            FileHandle.standardError.write(Data(("\r\u{1b}[K" + s + (final ? "\n" : "")).utf8))
        } else {
            FileHandle.standardError.write(Data((s + "\n").utf8))
        }
    }

    static func info(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

    /// The start line of long work: which CPU, BLAS core, kernels and threads the figures will come from.
    static func machine() { info(MachineInfo.current.line) }
}

func duration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t / 60 % 60) : String(format: "%dm%02ds", t / 60, t % 60)
}

func printJSON<T: Encodable>(_ value: T, pretty: Bool = false) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}

/// Writes a value as pretty, sorted JSON to a file.
func writeJSON<T: Encodable>(_ value: T, to file: URL) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try enc.encode(value).write(to: file, options: .atomic)
}

/// A benchmark report: the figures plus the CPU, BLAS core and threads they were measured with.
func printBenchJSON(_ object: [String: Any]) throws {
    try printJSONObject(object.merging(MachineInfo.current.jsonFields) { figure, _ in figure })
}

/// A JSON object from loosely typed values.
func printJSONObject(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func url(_ path: String) -> URL { URL(fileURLWithPath: path) }

/// A command-line count must be at least `min` (`--steps 0` would train or measure nothing).
func requireCount(_ flag: String, _ value: Int?, min: Int = 1) throws {
    if let value, value < min { throw ValidationError("--\(flag) must be >= \(min), got \(value)") }
}

/// A unicode sparkline of a series (reward curves in terminal summaries).
func sparkline(_ xs: [Double]) -> String {
    guard let lo = xs.min(), let hi = xs.max(), hi > lo else { return String(repeating: "▄", count: xs.count) }
    let bars = Array("▁▂▃▄▅▆▇█")
    return String(xs.map { bars[min(7, Int((($0 - lo) / (hi - lo)) * 7.999))] })
}

/// Commands that are not data parallel refuse mpirun: every rank would write the same run directories.
func requireOneProcess(_ command: String) throws {
    guard Cluster.shared.size == 1 else {
        throw ValidationError("\(command) runs as one process (only `tir train` is data parallel under mpirun): "
                              + "start it without mpirun")
    }
}
