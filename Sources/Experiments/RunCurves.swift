import Foundation
import Model
import GRPO
import Training

/// The curves of one or several GRPO runs, one panel per metric stacked in one SVG (`tir plot`, and
/// RUN/curves.svg at the end of `tir train`): each run is a series, x is the step.
public struct RunCurves {
    /// A run's name in the legend and its metrics lines (MetricsLog.read).
    public var runs: [(name: String, metrics: [[String: Double]])]
    /// Metric keys, one panel each (current names; legacy names resolve).
    public var keys: [String]

    /// Reward, accuracy, gradient norm (log axis), response length and tool-call rate.
    public static let defaultKeys = ["critic/score/mean", "tir/accuracy", "actor/grad_norm", "response_length/mean",
                                     "tir/tool_call_rate"]
    /// Keys drawn on a log axis, and fractions drawn with percent ticks.
    static let logKeys: Set<String> = ["actor/grad_norm", "tir/grad_norm_max"]
    static let percentKeys: Set<String> = ["tir/accuracy", "tir/tool_call_rate", "env/void_turn_ratio", "env/code_use_ratio",
                                           "env/valid_code_ratio", "tir/exec_error_rate", "tir/low_prob/1e-3"]

    public init(runs: [(name: String, metrics: [[String: Double]])], keys: [String] = RunCurves.defaultKeys) {
        self.runs = runs
        self.keys = keys.map(MetricNames.resolve)
    }

    /// Reads each run directory's metrics.jsonl; legends are the directory names (with their parent when
    /// two runs share a name). Throws for a directory without metrics.
    public init(runDirs: [URL], keys: [String] = RunCurves.defaultKeys) throws {
        let names = runDirs.map(\.lastPathComponent)
        let runs = try runDirs.enumerated().map { i, dir -> (name: String, metrics: [[String: Double]]) in
            let m = MetricsLog.read(dir.appendingPathComponent("metrics.jsonl"))
            guard !m.isEmpty else {
                throw ConfigError("\(dir.path) has no metrics.jsonl lines: pass a run directory (`tir train --out`)")
            }
            let name = names.filter { $0 == names[i] }.count > 1
                ? dir.deletingLastPathComponent().lastPathComponent + "/" + names[i] : names[i]
            return (name: name, metrics: m)
        }
        self.init(runs: runs, keys: keys)
    }

    /// One chart per key; throws for a key no run has, naming the keys they do have.
    public func charts() throws -> [LineChart] {
        try keys.map { key in
            guard runs.contains(where: { $0.metrics.contains { $0[key] != nil } }) else {
                let known = Set(runs.flatMap { $0.metrics.flatMap(\.keys) }).sorted()
                throw ConfigError("no run has metric \"\(key)\"; they have: \(known.joined(separator: ", "))")
            }
            let series = runs.enumerated().map { i, run in
                PlotSeries(name: run.name, color: LineChart.palette[i % LineChart.palette.count],
                           points: run.metrics.enumerated().map { s, m in
                               (x: m["step"] ?? Double(s + 1), y: m[key] ?? .nan)
                           })
            }
            let log = Self.logKeys.contains(key)
            var chart = LineChart(title: key, xLabel: "GRPO step", yLabel: key, series: series, logY: log,
                                  percentY: Self.percentKeys.contains(key), notes: log ? ["zero values not drawn"] : [])
            chart.height = 300
            return chart
        }
    }

    /// All panels stacked in one SVG document.
    public func svg() throws -> String {
        let charts = try charts()
        var body = "", y = 0.0
        for (i, c) in charts.enumerated() {
            body += "<g transform=\"translate(0 \(Int(y)))\">\n" + c.elements(clipID: "panel\(i)") + "</g>\n"
            y += c.height
        }
        return LineChart.document(width: charts.map(\.width).max() ?? 0, height: y, body)
    }
}
