import Foundation
import GRPO
import Model

/// Files an instability report wrote.
public struct ReportFiles {
    public var report: URL
    public var summaryCSV: URL
    public var runsCSV: URL
    public var svgs: [URL]
    public var pngs: [URL]
    /// Why PNGs are missing (nil when every plot has one).
    public var pngSkipped: String?
}

/// Writes the outputs of an instability experiment into its directory: summary.csv (per arm, mean and sd
/// over seeds), runs.csv (per arm x seed), plots as SVG (+ PNG when rsvg-convert exists) and REPORT.md.
public struct InstabilityReport {
    public let experiment: InstabilityExperiment
    public let runs: [ExperimentRun]
    public let summaries: [ArmSummary]
    /// Wall-clock seconds of the whole command (training included), for the record.
    public var totalSeconds: Double?
    /// How the base policy came about (e.g. "pretrained now, 1200 steps"), for the record.
    public var baseNote: String?
    /// The `--set key=value` overrides of the shared config, for the record.
    public var overrides: [String] = []

    public init(experiment: InstabilityExperiment, runs: [ExperimentRun]) {
        self.experiment = experiment
        self.runs = runs
        summaries = experiment.summarize(runs)
    }

    var dir: URL { experiment.outDir }
    var settings: InstabilitySettings { experiment.settings }

    /// `rsvgConvert`: the converter to use (nil: PNGs are skipped and the report says so).
    public func write(rsvgConvert: URL? = PNGConverter.find()) throws -> ReportFiles {
        let fm = FileManager.default
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        let summaryCSV = dir.appendingPathComponent("summary.csv"), runsCSV = dir.appendingPathComponent("runs.csv")
        try Data(self.summaryCSV().utf8).write(to: summaryCSV, options: .atomic)
        try Data(self.runsCSV().utf8).write(to: runsCSV, options: .atomic)

        var svgs: [URL] = [], pngs: [URL] = []
        var skipped: String? = rsvgConvert == nil
            ? "PNG files were skipped: rsvg-convert is not installed (Debian package librsvg2-bin; scripts/setup.sh installs it)."
            : nil
        for (name, chart) in charts() {
            let svg = dir.appendingPathComponent(name + ".svg")
            try Data(chart.svg().utf8).write(to: svg, options: .atomic)
            svgs.append(svg)
            guard let tool = rsvgConvert, skipped == nil else { continue }
            let png = dir.appendingPathComponent(name + ".png")
            do {
                try PNGConverter.convert(svg: svg, png: png, tool: tool)
                pngs.append(png)
            } catch {
                skipped = "PNG files were skipped: \(error)"
                for p in pngs { try? fm.removeItem(at: p) }
                pngs = []
            }
        }
        let report = dir.appendingPathComponent("REPORT.md")
        try Data(markdown(pngs: !pngs.isEmpty, pngNote: skipped).utf8).write(to: report, options: .atomic)
        return ReportFiles(report: report, summaryCSV: summaryCSV, runsCSV: runsCSV, svgs: svgs, pngs: pngs, pngSkipped: skipped)
    }

    // MARK: plots

    func color(_ i: Int) -> String { LineChart.palette[i % LineChart.palette.count] }

    /// Per step (1-based), the mean over this arm's seeds of a metric (NaN where no seed has it).
    func meanSeries(_ s: ArmSummary, _ key: String, movingAverage: Int = 1) -> [(x: Double, y: Double)] {
        let n = s.runs.map(\.metrics.count).max() ?? 0
        var ys: [Double] = (0..<n).map { i in
            let v = s.runs.compactMap { i < $0.metrics.count ? $0.metrics[i][key] : nil }.filter(\.isFinite)
            return v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
        }
        if movingAverage > 1 {
            ys = ys.indices.map { i in
                let w = ys[max(0, i - movingAverage + 1)...i].filter(\.isFinite)
                return w.isEmpty ? .nan : w.reduce(0, +) / Double(w.count)
            }
        }
        return ys.enumerated().map { (x: Double($0.offset + 1), y: $0.element) }
    }

    /// name -> chart: grad norm (log y, every seed, spikes circled), accuracy, low-probability fractions.
    func charts() -> [(String, LineChart)] {
        var grad: [PlotSeries] = []
        for (i, s) in summaries.enumerated() {
            for (run, st) in zip(s.runs, s.stats) {
                let pts = run.metrics.enumerated().map { (x: Double($0.offset + 1), y: $0.element["actor/grad_norm"] ?? .nan) }
                grad.append(PlotSeries(name: s.arm.name, color: color(i), points: pts, lineWidth: 1.4,
                                       opacity: s.runs.count > 1 ? 0.8 : 1, markers: st.spikeSteps))
            }
        }
        let steps = Double(settings.shared.steps)
        grad.append(PlotSeries(name: "clip threshold (\(trim(Double(settings.shared.optimizer.gradClip))))", color: "#888888",
                               points: [(x: 1, y: Double(settings.shared.optimizer.gradClip)), (x: max(steps, 2), y: Double(settings.shared.optimizer.gradClip))],
                               dashed: true, lineWidth: 1))
        let seedNote = settings.seeds.count > 1 ? "one line per seed" : "one seed"
        let gradChart = LineChart(
            title: "Pre-clip gradient norm per step (log scale)", xLabel: "GRPO step",
            yLabel: "gradient norm before clipping", series: grad, logY: true,
            notes: [seedNote, "○ = spike (>10x running median)", "zero norms (no signal) not drawn"])

        let ma = min(5, max(1, settings.shared.steps / 6))
        let avgNotes = ["mean over \(settings.seeds.count) seed(s)"] + (ma > 1 ? ["\(ma)-step moving average"] : [])
        func meanChart(_ key: String, _ title: String, _ y: String) -> LineChart {
            LineChart(title: title, xLabel: "GRPO step", yLabel: y,
                      series: summaries.enumerated().map { i, s in
                          PlotSeries(name: s.arm.name, color: color(i), points: meanSeries(s, key, movingAverage: ma))
                      }, percentY: true, notes: avgNotes)
        }
        let low = LineChart(
            title: "Low-probability policy tokens (p < 1e-3) per step", xLabel: "GRPO step",
            yLabel: "fraction of policy tokens",
            series: summaries.enumerated().flatMap { i, s in [
                PlotSeries(name: s.arm.name, color: color(i), points: meanSeries(s, "tir/low_prob/1e-3", movingAverage: ma)),
                PlotSeries(name: s.arm.name + " after tool", color: color(i), points: meanSeries(s, "tir/low_prob/after_tool", movingAverage: ma),
                           dashed: true, lineWidth: 1.4, inLegend: false),
            ] }, percentY: true,
            notes: ["solid: all policy tokens", "dashed: first 4 tokens after", "a tool observation"] + avgNotes)
        let attribution = LineChart(
            title: "Where the gradient sits: share of the logit-gradient mass per step", xLabel: "GRPO step",
            yLabel: "share of sum (1 - 2p + sum pi^2) c^2",
            series: summaries.enumerated().flatMap { i, s in [
                PlotSeries(name: s.arm.name, color: color(i), points: meanSeries(s, "tir/lowprob_grad_share", movingAverage: ma)),
                PlotSeries(name: s.arm.name + " after tool", color: color(i),
                           points: meanSeries(s, "tir/grad_share_after_tool", movingAverage: ma), dashed: true, lineWidth: 1.4,
                           inLegend: false),
            ] }, percentY: true,
            notes: ["solid: tokens sampled with p < 1e-3", "dashed: first 4 tokens after", "a tool observation"] + avgNotes)
        return [
            ("grad_norm", gradChart),
            ("grad_attribution", attribution),
            ("accuracy", meanChart("tir/accuracy", "Training accuracy per step (training batches)", "correct trajectories")),
            ("low_prob", low),
        ]
    }

    // MARK: CSV

    func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    func num(_ x: Double) -> String { x.isFinite ? String(format: "%.6g", x) : (x.isNaN ? "" : "inf") }

    func summaryCSV() -> String {
        var header = ["arm", "max_tool_calls", "filter_void_turns", "mask_tool_tokens", "seeds"]
        for c in RunStats.columns { header += [c.key + "_mean", c.key + "_sd"] }
        var lines = [header.joined(separator: ",")]
        for s in summaries {
            var row = [csvField(s.arm.name), String(s.arm.maxToolCalls), String(s.arm.filterVoidTurns),
                       String(s.arm.maskToolTokens), String(s.runs.count)]
            for c in RunStats.columns { row += [num(s[c.key].mean), num(s[c.key].sd)] }
            lines.append(row.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func runsCSV() -> String {
        var lines = [(["arm", "seed"] + RunStats.columns.map(\.key) + ["spike_steps", "metrics"]).joined(separator: ",")]
        for s in summaries {
            for (run, st) in zip(s.runs, s.stats) {
                let row = [csvField(s.arm.name), String(run.seed)] + RunStats.columns.map { num(st.values[$0.key] ?? .nan) }
                    + [st.spikeSteps.map { String($0 + 1) }.joined(separator: " "), csvField(relative(run.metricsURL))]
                lines.append(row.joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func relative(_ u: URL) -> String {
        let base = dir.standardizedFileURL.path + "/", p = u.standardizedFileURL.path
        return p.hasPrefix(base) ? String(p.dropFirst(base.count)) : p
    }

    // MARK: REPORT.md

    func cell(_ m: MeanSpread, _ c: StatColumn) -> String {
        m.sd.isFinite ? "\(formatStat(m.mean, c)) ± \(formatStat(m.sd, c))" : formatStat(m.mean, c)
    }

    func table(_ keys: [String]) -> String {
        let cols = keys.compactMap { k in RunStats.columns.first { $0.key == k } }
        var t = "| arm | " + cols.map(\.title).joined(separator: " | ") + " |\n"
        t += "|---|" + cols.map { _ in "---:" }.joined(separator: "|") + "|\n"
        for s in summaries { t += "| `\(s.arm.name)` | " + cols.map { cell(s[$0.key], $0) }.joined(separator: " | ") + " |\n" }
        return t
    }

    public func markdown(pngs: Bool, pngNote: String?) -> String {
        let c = settings.shared
        let stabilityKeys = ["grad_norm_max", "grad_norm_p95", "grad_norm_median", "spikes", "skipped_updates", "accuracy_first", "accuracy_final"]
        let attributionKeys = ["lowprob_grad_share", "lowprob_grad_share_max", "after_tool_grad_share", "void_grad_share",
                               "clipped_grad_share", "entropy_first", "probs_diff_mean", "nonfinite_steps"]
        let tokenKeys = ["low_prob", "low_prob_after_tool", "low_prob_elsewhere", "void_turn_ratio", "void_turn_final", "exec_error_rate",
                         "tool_calls", "filtered_frac", "zero_signal_groups", "minutes"]
        var baseDesc = "`\(experiment.base.path)`"
        if let pc = try? Checkpoint.loadConfig(experiment.base) {
            baseDesc += " (Llama-style, dim \(pc.dim), \(pc.layers) layers, \(pc.heads) heads, ffn \(pc.ffn), context \(pc.context))"
        }
        if let baseNote { baseDesc += "; \(baseNote)" }
        let ext = pngs ? "png" : "svg"
        var md = """
        # Gradient-norm instability of multi-turn TIR

        Generated by `tir experiment instability` on \(ISO8601DateFormatter().string(from: Date())). Question
        (SimpleTIR, arXiv 2509.02479): does naive multi-turn tool-integrated GRPO suffer gradient-norm explosions,
        and do void-turn filtering and tool-output masking prevent them?

        ## What was run

        - **Base policy**: \(baseDesc). Every run starts from it.
        - **Arms** (everything else identical):

        | arm | tool calls C | void-turn filter | tool-output mask | rollout correction |
        |---|---:|:---:|:---:|:---:|

        """
        for a in settings.arms {
            md += "| `\(a.name)` | \(a.maxToolCalls) | \(a.filterVoidTurns ? "on" : "off") | \(a.maskToolTokens ? "on" : "off") | \(a.importanceCorrection.rawValue) |\n"
        }
        md += """

        - **Seeds**: \(settings.seeds.map(String.init).joined(separator: ", ")) (a seed fixes the task stream and the sampling, so arms are paired per seed).
        - **Compute per run**: \(c.steps) GRPO steps x \(c.promptsPerStep) prompts x \(c.groupSize) samples, \(c.miniBatches) optimizer updates per step (the same for every arm).
        - **Paper conditions**: sampling temperature \(trim(Double(c.rollout.sampling.temperature))), top-k \(c.rollout.sampling.topK == 0 ? "off" : String(c.rollout.sampling.topK)), top-p \(trim(Double(c.rollout.sampling.topP))), KL weight \(trim(Double(c.kl.beta))), gradient clipping at \(trim(Double(c.optimizer.gradClip))) with the **pre-clip** norm recorded, no dynamic sampling; multi-turn arms may call the tool up to \(settings.arms.map(\.maxToolCalls).max() ?? 0) times, and the error messages of failed code are out of distribution (neither the toy pretraining corpus nor a chat model's answers show an interpreter's output).
        - **Other settings**: lr \(c.optimizer.lr) (\(c.optimizer.schedule.rawValue)), AdamW weight decay \(trim(Double(c.optimizer.weightDecay))), advantage \(c.advantage.rawValue), clip range [1-\(trim(Double(c.loss.epsLow))), 1+\(trim(Double(c.loss.epsHigh)))], dual clip \(c.loss.dualClip.map { trim(Double($0)) } ?? "off"), aggregation \(c.loss.aggregation.rawValue), reward \(c.reward.scheme.rawValue)\(c.reward.executabilityPenalty ? " with the -0.5 executability penalty" : ""), at most \(c.rollout.maxTurnTokens) tokens per turn and \(c.rollout.maxTrajectoryTokens) per trajectory, built-in task difficulty \(c.tasks.difficulty), answers read by the \(c.rollout.answerRule.rawValue) rule. Full configs: `arms/<arm>/seed-<k>/config.json`.
        - **Instability levers**: \(c.miniBatches * c.ppoEpochs) optimizer updates per rollout batch (\(c.miniBatches) mini-batches x \(c.ppoEpochs) epochs), old log-probs \(c.correction.recomputeOldLogProbs ? "recomputed by the trainer" : "from the sampler"), rollout weights \(c.rolloutWeights.rawValue) and KV cache \(c.rolloutKVCache.rawValue) (training fp32), \(c.rollout.observationStyle.rawValue) observations.

        """
        if !overrides.isEmpty { md += "- **Command-line overrides** of the shared config: " + overrides.map { "`\($0)`" }.joined(separator: ", ") + ".\n" }
        let stepMinutes = summaries.flatMap(\.stats).reduce(0.0) { $0 + ($1.values["minutes"] ?? 0) }
        md += "- **Time**: \(String(format: "%.1f", stepMinutes)) minutes of GRPO steps over all runs"
            + (totalSeconds.map { String(format: "; %.1f minutes wall-clock for the whole command", $0 / 60) } ?? "") + ".\n"
        md += "\n## Plots\n\n"
        if let pngNote { md += "> **Note**: \(pngNote) The SVG plots are embedded instead.\n\n" }
        md += """
        ![gradient norm per step](grad_norm.\(ext))

        ![gradient attribution per step](grad_attribution.\(ext))

        ![training accuracy per step](accuracy.\(ext))

        ![low-probability tokens per step](low_prob.\(ext))

        ## Results

        Mean ± standard deviation over seeds (± omitted with one seed). Grad norms are pre-clip.

        \(table(stabilityKeys))
        \(table(tokenKeys))
        Where the gradient sits (logit-gradient attribution, `tir/` metrics; see docs/INSTABILITY.md):

        \(table(attributionKeys))
        Columns:

        """
        for col in RunStats.columns { md += "- *\(col.title)*: \(col.explain).\n" }
        md += "\n## Conclusion\n\n"
        md += InstabilityConclusion(summaries: summaries, steps: c.steps).markdown + "\n\n"
        md += """
        What this setup does to match the paper: multi-turn rollouts (C = \(settings.arms.map(\.maxToolCalls).max() ?? 0)) with real code execution, tool feedback the base policy never saw (tracebacks), sampling at temperature 1 with no truncation, no KL term, the pre-clip gradient norm recorded at every update. What remains different: a \(paramsDescription()) policy instead of a 7B model, \(c.steps) steps of \(c.promptsPerStep * c.groupSize) trajectories instead of hundreds of steps of thousands, and short toy arithmetic episodes. A result here is evidence about this scale only.

        ## Files

        - `summary.csv`: per arm, mean and sd over seeds of every column above; `runs.csv`: per arm and seed, with the spike steps.
        - `arms/<arm>/seed-<k>/metrics.jsonl`: every metric of every step, named as in docs/METRICS.md (`actor/grad_norm` is the pre-clip norm, mean over the step's updates; `tir/grad_norm_max` the largest); `tb/` the same for `tensorboard --logdir arms`; `config.json` next to it.
        - `grad_norm.svg`, `grad_attribution.svg`, `accuracy.svg`, `low_prob.svg`\(pngs ? " and their PNGs" : ""); `experiment.json`: the settings.

        """
        return md
    }

    func paramsDescription() -> String {
        guard let pc = try? Checkpoint.loadConfig(experiment.base) else { return "small" }
        // Llama-style, tied head: embeddings + per layer (4 d^2 attention + 3 d f MLP + 2 d norms) + final norm.
        let n = pc.vocab * pc.dim + pc.layers * (4 * pc.dim * pc.dim + 3 * pc.dim * pc.ffn + 2 * pc.dim) + pc.dim
            + (pc.tiedHead ? 0 : pc.vocab * pc.dim)
        return n >= 1_000_000 ? String(format: "%.1fM-parameter", Double(n) / 1e6) : String(format: "%.0fk-parameter", Double(n) / 1e3)
    }
}
