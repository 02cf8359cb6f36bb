import Foundation
import GRPO

/// Minimal SVG line charts (axes, ticks, grid, legend, optional log y-axis) and PNG conversion through
/// `rsvg-convert`. No dependencies: the experiment's plots are a few hundred points each.

public struct PlotSeries {
    public var name: String
    public var color: String
    /// (x, y) points in order; a non-finite y (or y <= 0 on a log axis) breaks the line.
    public var points: [(x: Double, y: Double)]
    public var dashed = false
    public var lineWidth = 1.8
    public var opacity = 1.0
    /// Whether the series gets a legend entry (several seeds of one arm share one entry).
    public var inLegend = true
    /// Points (indices into `points`) drawn as hollow circles, e.g. gradient-norm spikes.
    public var markers: [Int] = []

    public init(name: String, color: String, points: [(x: Double, y: Double)], dashed: Bool = false,
                lineWidth: Double = 1.8, opacity: Double = 1, inLegend: Bool = true, markers: [Int] = []) {
        self.name = name; self.color = color; self.points = points; self.dashed = dashed
        self.lineWidth = lineWidth; self.opacity = opacity; self.inLegend = inLegend; self.markers = markers
    }
}

public struct LineChart {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [PlotSeries]
    public var logY = false
    /// Tick labels as percentages of y (y in [0,1]).
    public var percentY = false
    /// Extra legend lines under the entries (e.g. "o = spike").
    public var notes: [String] = []
    public var width = 920.0, height = 440.0
    /// x values are counts (steps): no fractional ticks.
    public var integerX = true

    public init(title: String, xLabel: String, yLabel: String, series: [PlotSeries], logY: Bool = false,
                percentY: Bool = false, notes: [String] = []) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
        self.logY = logY; self.percentY = percentY; self.notes = notes
    }

    /// Ten colours that stay distinct on white (Tableau 10).
    public static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    func usable(_ y: Double) -> Bool { y.isFinite && (!logY || y > 0) }

    public func svg() -> String { Self.document(width: width, height: height, elements(clipID: "plot")) }

    /// An SVG document around chart elements (one chart, or several translated into place).
    public static func document(width: Double, height: Double, _ elements: String) -> String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">

        """ + elements + "</svg>\n"
    }

    /// The chart's elements in its own width x height box; `clipID` names its clip path, unique per document.
    public func elements(clipID: String) -> String {
        let left = 78.0, right = 250.0, top = 44.0, bottom = 58.0
        let pw = width - left - right, ph = height - top - bottom
        let xs = series.flatMap { $0.points.map(\.x) }.filter(\.isFinite)
        let ys = series.flatMap { $0.points.map(\.y) }.filter(usable)
        var x0 = xs.min() ?? 0, x1 = xs.max() ?? 1
        if x1 <= x0 { x0 -= 1; x1 += 1 }
        let yTicks: [Double], ty: (Double) -> Double   // data -> [0,1] of the plot height
        if logY {
            let lo = floor(log10(ys.min() ?? 0.1))
            var hi = ceil(log10(ys.max() ?? 10))
            if hi == log10(ys.max() ?? 10) { hi += 1 }   // a line exactly on the top decade would hide in the frame
            let (a, b) = hi > lo ? (lo, hi) : (lo - 1, hi + 1)
            yTicks = logTicks(a, b)
            ty = { (log10($0) - a) / (b - a) }
        } else {
            var lo = min(0, ys.min() ?? 0), hi = ys.max() ?? 1
            if hi <= lo { hi = lo + 1 }
            let step = niceStep((hi - lo) / 5)
            lo = floor(lo / step) * step; hi = ceil(hi / step) * step
            yTicks = stride(from: lo, through: hi + step / 2, by: step).map { ($0 / step).rounded() * step }   // exact multiples (summed steps miss 0)
            let (a, b) = (lo, hi)
            ty = { ($0 - a) / (b - a) }
        }
        let xStep = max(integerX ? 1 : 0, niceStep((x1 - x0) / 8))
        let xTicks = stride(from: ceil(x0 / xStep) * xStep, through: x1 + xStep / 1000, by: xStep).map { $0 }
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * pw }
        func py(_ y: Double) -> Double { top + ph - ty(y) * ph }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var s = """
        <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="white"/>
        <text x="\(f(left + pw / 2))" y="24" text-anchor="middle" font-size="15" font-weight="bold">\(xml(title))</text>

        """
        // Grid and tick labels.
        for t in yTicks {
            let y = py(t)
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + pw))\" y2=\"\(f(y))\" stroke=\"#e3e3e3\"/>\n"
            s += "<line x1=\"\(f(left - 5))\" y1=\"\(f(y))\" x2=\"\(f(left))\" y2=\"\(f(y))\" stroke=\"#333\"/>\n"
            s += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(xml(tickLabel(t)))</text>\n"
        }
        for t in xTicks {
            let x = px(t)
            s += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(top + ph))\" stroke=\"#f0f0f0\"/>\n"
            s += "<line x1=\"\(f(x))\" y1=\"\(f(top + ph))\" x2=\"\(f(x))\" y2=\"\(f(top + ph + 5))\" stroke=\"#333\"/>\n"
            s += "<text x=\"\(f(x))\" y=\"\(f(top + ph + 19))\" text-anchor=\"middle\">\(xml(trim(t)))</text>\n"
        }
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" stroke=\"#333\"/>\n"
        s += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(height - 14))\" text-anchor=\"middle\">\(xml(xLabel))</text>\n"
        s += "<text transform=\"translate(18 \(f(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\">\(xml(yLabel))</text>\n"

        // Lines (clipped to the plot area) and markers.
        s += "<clipPath id=\"\(clipID)\"><rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\"/></clipPath>\n"
        s += "<g clip-path=\"url(#\(clipID))\" fill=\"none\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\n"
        for ser in series {
            var d = "", pen = false, lone: [(Double, Double)] = []
            for (i, p) in ser.points.enumerated() {
                guard p.x.isFinite, usable(p.y) else { pen = false; continue }
                let nextOK = i + 1 < ser.points.count && usable(ser.points[i + 1].y)
                if !pen && !nextOK { lone.append((px(p.x), py(p.y))) }   // an isolated point: draw a dot
                d += (pen ? "L" : "M") + f(px(p.x)) + "," + f(py(p.y)) + " "
                pen = true
            }
            let dash = ser.dashed ? " stroke-dasharray=\"6 4\"" : ""
            if !d.isEmpty {
                s += "<path d=\"\(d)\" stroke=\"\(ser.color)\" stroke-width=\"\(ser.lineWidth)\" stroke-opacity=\"\(ser.opacity)\"\(dash)/>\n"
            }
            for (x, y) in lone { s += "<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"2\" fill=\"\(ser.color)\"/>\n" }
            for i in ser.markers where i < ser.points.count && usable(ser.points[i].y) {
                s += "<circle cx=\"\(f(px(ser.points[i].x)))\" cy=\"\(f(py(ser.points[i].y)))\" r=\"5\" stroke=\"\(ser.color)\" stroke-width=\"1.5\"/>\n"
            }
        }
        s += "</g>\n"

        // Legend to the right of the plot.
        var ly = top + 8
        let lx = left + pw + 18
        var seen = Set<String>()
        for ser in series where ser.inLegend && !seen.contains(ser.name) {
            seen.insert(ser.name)
            let dash = ser.dashed ? " stroke-dasharray=\"6 4\"" : ""
            s += "<line x1=\"\(f(lx))\" y1=\"\(f(ly))\" x2=\"\(f(lx + 26))\" y2=\"\(f(ly))\" stroke=\"\(ser.color)\" stroke-width=\"2.5\"\(dash)/>\n"
            s += "<text x=\"\(f(lx + 32))\" y=\"\(f(ly + 4))\">\(xml(ser.name))</text>\n"
            ly += 20
        }
        for n in notes {
            ly += 6
            s += "<text x=\"\(f(lx))\" y=\"\(f(ly + 4))\" fill=\"#555\" font-size=\"11\">\(xml(n))</text>\n"
            ly += 14
        }
        return s
    }

    func tickLabel(_ t: Double) -> String {
        if percentY { return trim(100 * t) + "%" }
        if logY {
            let e = Int(log10(t).rounded(.down))
            let m = t / pow(10, Double(e))
            if e >= -3 && e <= 4 { return trim(t) }
            return (abs(m - 1) < 1e-9 ? "" : trim(m) + "×") + "1e\(e)"
        }
        return trim(t)
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
func niceStep(_ raw: Double) -> Double {
    guard raw > 0 && raw.isFinite else { return 1 }
    let p = pow(10, floor(log10(raw)))
    for m in [1.0, 2, 5, 10] where m * p >= raw * 0.999 { return m * p }
    return 10 * p
}

/// Decades from 10^a to 10^b; with few decades also 2x and 5x.
func logTicks(_ a: Double, _ b: Double) -> [Double] {
    var t: [Double] = []
    for e in Int(a)...Int(b) {
        let d = pow(10, Double(e))
        t.append(d)
        if b - a <= 2 && Double(e) < b { t += [2 * d, 5 * d] }
    }
    return t
}

/// Shortest decimal for a tick value (no trailing zeros, no "-0").
func trim(_ v: Double) -> String {
    if v == 0 { return "0" }
    var s = String(format: "%.6g", v)
    if s.contains("."), !s.contains("e") {
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s
}

func xml(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

/// SVG -> PNG with `rsvg-convert` (Debian: librsvg2-bin), when it is installed.
public enum PNGConverter {
    /// The rsvg-convert executable on PATH, or nil.
    public static func find(path: String? = ProcessInfo.processInfo.environment["PATH"]) -> URL? {
        for dir in (path ?? "/usr/bin:/bin").split(separator: ":") {
            let u = URL(fileURLWithPath: String(dir)).appendingPathComponent("rsvg-convert")
            if FileManager.default.isExecutableFile(atPath: u.path) { return u }
        }
        return nil
    }

    /// Converts one file; throws with rsvg-convert's message if it fails.
    public static func convert(svg: URL, png: URL, tool: URL) throws {
        let p = Process()
        p.executableURL = tool
        p.arguments = ["--format", "png", "--zoom", "1.5", "--output", png.path, svg.path]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let msg = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw GRPOError("rsvg-convert failed on \(svg.lastPathComponent): \(String(decoding: msg, as: UTF8.self))")
        }
    }
}
