import ArgumentParser
import Distributed
import Experiments
import Foundation
import Model
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

    /// A warning when the decode weights' format is slow on this CPU (`WeightFormat.slowHere`).
    static func warnIfSlow(_ weights: WeightFormat) { weights.slowHere.map { info("warning: " + $0) } }
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

/// `--weights fp32|bf16|fp16|q8` (and `--kv-cache`): ArgumentParser parses them and names the allowed values on a bad one.
extension NumberFormat: ExpressibleByArgument {}
extension WeightFormat: ExpressibleByArgument {}

/// A unicode sparkline of a series (reward curves in terminal summaries).
func sparkline(_ xs: [Double]) -> String {
    guard let lo = xs.min(), let hi = xs.max(), hi > lo else { return String(repeating: "▄", count: xs.count) }
    let bars = Array("▁▂▃▄▅▆▇█")
    return String(xs.map { bars[min(7, Int((($0 - lo) / (hi - lo)) * 7.999))] })
}

/// Commands that do not share their work over ranks refuse mpirun: every rank would write the same run directories.
func requireOneProcess(_ command: String) throws {
    guard Cluster.shared.size == 1 else {
        throw ValidationError("\(command) runs as one process (under mpirun only `tir train`, `tir experiment` and "
                              + "`tir bench grpo` share their work over the ranks): start it without mpirun")
    }
}

/// Rank 0 makes a value (a base it pretrains, say) while the other ranks wait without spinning; every rank
/// returns it. A rank-0 error ends the job (see `Tir.main`), so no rank waits for ever.
func fromRoot<T: Codable>(_ cluster: Cluster, _ make: () async throws -> T) async throws -> T {
    let data = cluster.isRoot ? try JSONEncoder().encode(try await make()) : Data()
    try cluster.barrier()
    return try JSONDecoder().decode(T.self, from: try cluster.broadcast(data))
}

/// " (2 ranks share the runs)" on the start line of shared work under mpirun.
func ranksNote(_ cluster: Cluster) -> String { cluster.size > 1 ? " (\(cluster.size) ranks share the runs)" : "" }

/// The progress line of work the ranks share: under mpirun each rank prints its own, over its part of the
/// steps (about 1/size of them; it does not see the others' steps).
func sharedProgress(_ label: String, total: Int, cluster: Cluster) -> ProgressLine {
    guard cluster.size > 1 else { return ProgressLine(label, total: total) }
    return ProgressLine("rank \(cluster.rank), its ~1/\(cluster.size): " + label, total: (total + cluster.size - 1) / cluster.size)
}

/// What this rank did of shared work (under mpirun).
func reportShare(_ share: WorkShare, cluster: Cluster) {
    guard cluster.size > 1 else { return }
    Status.info("rank \(cluster.rank) of \(cluster.size): did \(share.ran) of the runs and base probes, found \(share.done) done, "
                + "left \(share.others) to other ranks")
}
