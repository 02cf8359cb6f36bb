import Foundation
import Training

/// JSON-lines metrics file: one object per `write`, keys sorted, numbers in Swift's shortest round-trip
/// form, non-finite numbers as null. Each line goes out in one write(2) and is then fsync'ed, so a
/// killed run leaves every completed line on disk.
public final class MetricsLog {
    public let url: URL
    private let handle: FileHandle

    /// Creates the file (and its directory) if needed; `append: false` truncates an existing file.
    public init(url: URL, append: Bool) throws {
        self.url = url
        let fm = FileManager.default
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !append || !fm.fileExists(atPath: url.path) {
            guard fm.createFile(atPath: url.path, contents: nil) else {
                throw GRPOError("MetricsLog: cannot create \(url.path)")
            }
        }
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    /// Writes one line. A key present in both `fields` and `strings` is an error.
    public func write(_ fields: [String: Double], strings: [String: String] = [:]) throws {
        if let dup = fields.keys.first(where: { strings[$0] != nil }) {
            throw GRPOError("MetricsLog.write: key \"\(dup)\" given as both number and string")
        }
        var items: [(String, String)] = fields.map { ($0.key, Self.number($0.value)) }
        items += strings.map { ($0.key, Self.quote($0.value)) }
        items.sort { $0.0 < $1.0 }
        let line = "{" + items.map { Self.quote($0.0) + ":" + $0.1 }.joined(separator: ",") + "}\n"
        try handle.write(contentsOf: Data(line.utf8))
        try handle.synchronize()
    }

    /// The numbers of every complete line of a metrics file, under the current names (`MetricNames.current`,
    /// so a file written before the verl names reads the same); null values are absent, no file is no lines.
    public static func read(_ url: URL) -> [[String: Double]] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return MetricNames.current(obj.compactMapValues { ($0 as? NSNumber)?.doubleValue })
        }
    }

    static func number(_ x: Double) -> String {
        guard x.isFinite else { return "null" }
        // Swift prints integral values as "3.0" and small/large ones as "1e-06": both valid JSON.
        return "\(x)"
    }

    /// A JSON string literal (JSONEncoder does the escaping RFC 8259 requires; "/" stays as it is, so
    /// `grep '"actor/grad_norm"'` finds the key).
    static func quote(_ s: String) -> String {
        String(decoding: (try? encoder.encode(s)) ?? Data("\"\"".utf8), as: UTF8.self)
    }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }()
}
