import Foundation
import ArgumentParser
import Experiments

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Curves of one or several GRPO runs, one panel per metric, in one SVG (or PNG).",
        discussion: "Each RUN_DIR holds a metrics.jsonl (`tir train --out`, or arms/<arm>/seed-<k> of an experiment). "
            + "Metrics are named as in docs/METRICS.md (older runs' names work too). "
            + "Default panels: \(RunCurves.defaultKeys.joined(separator: ", ")).")

    @Argument(help: "Run directories.") var runs: [String]
    @Option(name: .customLong("metric"), help: "A metric to draw (repeatable; default: the panels above).")
    var metrics: [String] = []
    @Option(help: "Output file: .svg, or .png (needs rsvg-convert).") var out = "curves.svg"

    func validate() throws {
        if runs.isEmpty { throw ValidationError("give at least one run directory") }
        if !out.hasSuffix(".svg") && !out.hasSuffix(".png") { throw ValidationError("--out must end in .svg or .png") }
    }

    func run() throws {
        let curves = try RunCurves(runDirs: runs.map(url), keys: metrics.isEmpty ? RunCurves.defaultKeys : metrics)
        let svg = Data(try curves.svg().utf8)
        let target = url(out)
        if out.hasSuffix(".svg") {
            try svg.write(to: target, options: .atomic)
        } else {
            guard let tool = PNGConverter.find() else {
                throw ValidationError("PNG output needs rsvg-convert (Debian: apt-get install librsvg2-bin); or use --out FILE.svg")
            }
            let tmp = target.deletingPathExtension().appendingPathExtension("svg.tmp")
            try svg.write(to: tmp, options: .atomic)
            defer { try? FileManager.default.removeItem(at: tmp) }
            try PNGConverter.convert(svg: tmp, png: target, tool: tool)
        }
        print(target.path)
    }
}

/// RUN/curves.svg: the default panels of one run's metrics.
func writeCurves(_ metrics: [[String: Double]], in dir: URL) throws -> URL {
    let file = dir.appendingPathComponent("curves.svg")
    let curves = RunCurves(runs: [(name: dir.lastPathComponent, metrics: metrics)])
    try Data(try curves.svg().utf8).write(to: file, options: .atomic)
    return file
}
