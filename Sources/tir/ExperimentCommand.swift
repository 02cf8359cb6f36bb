import Foundation
import ArgumentParser
import Distributed
import Experiments
import GRPO
import Model
import Pretrain
import SandboxExecutor
import Training

/// `tir experiment ...`: reproductions of the papers' experiments.
struct Experiment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Reproduce the papers' experiments.",
        subcommands: [ExperimentInstability.self])
}

struct ExperimentInstability: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instability",
        abstract: "Gradient-norm instability of multi-turn TIR: void-turn filtering x tool-output masking, plus single-turn.",
        discussion: """
        Runs 5 arms of GRPO from one base policy with the same seeds and compute: multi-turn (C = 5) with \
        void-turn filtering on/off x tool-output masking on/off, and single-turn (C = 1); temperature 1, no KL, \
        clipping at 1 with the pre-clip norm recorded. Writes per-arm metrics (arms/<arm>/seed-<k>/metrics.jsonl), \
        summary.csv, runs.csv, plots (SVG, and PNG when rsvg-convert is installed) and REPORT.md into --out. \
        Re-running the same command with --resume reuses finished runs and resumes interrupted ones (runs \
        with other settings are an error); --force runs everything again. Defaults (100 steps x 3 seeds) take about 10 minutes on a \
        2-core machine, plus about 5 minutes of pretraining when --base does not exist; --quick takes a few \
        minutes and only checks the pipeline.

        --sweep runs the lever conditions (off-policy updates, a bf16 rollout against the fp32 trainer with TIS \
        and MIS arms, SimpleTIR observations with up to 10 calls, an earlier base, all together; --list-presets \
        shows them) and writes a phase table (spikes, non-finite steps, void-turn collapse, final accuracy per \
        seed; per fix whether it removes them) and the gradient attribution into <out>/REPORT.md. --preset NAME \
        runs one condition with 3 seeds. Sizes and measured times: docs/INSTABILITY.md.

        --checkpoint M (smollm2, qwen2.5-coder, a Hugging Face directory, a .gguf file) runs SimpleTIR's setup on that \
        real model instead: by default the lastnumber-fast condition with 4 arms (naive, void filter, TIS, MIS) x 2 \
        seeds x 20 steps of 4 x 8 (about 75 minutes for SmolLM2-135M on 2 cores); --preset NAME another real \
        condition; --probe only measures the base's preconditions per turn into <out>/PROBE.md (a few minutes).

        Under `mpirun -np N` the ranks share the runs (each takes the next run no rank holds and trains it \
        alone; rank 0 makes missing bases first and writes the reports); --out must be a directory every rank \
        sees. A rank that dies ends the job; the same command again continues.
        """)

    @Option(help: "Output directory.") var out = "runs/experiment-instability"
    @Option(help: "Base policy checkpoint; pretrained here (demo defaults; --quick: a short one in <out>/base) when missing.")
    var base = "runs/demo/base"
    @Option(help: "A real model to start from instead of --base: smollm2 or qwen2.5-coder (fetched when missing), a Hugging Face directory, a .gguf file or a tir run. Runs SimpleTIR's conditions for real models (--list-presets); never pretrained here.")
    var checkpoint: String?
    @Flag(help: "Only measure the base's preconditions: one rollout batch of 8 x 8 in ToRL's and in SimpleTIR's format, per turn (entropy, low-probability tokens, void turns, sampler-trainer difference, gradient share) -> <out>/PROBE.md.")
    var probe = false
    @Option(help: "GRPO steps per run (default 100; --quick 4).") var steps: Int?
    @Option(help: "Seeds per arm, 1...K (default 3; --quick 2).") var seeds: Int?
    @Option(help: "Tool calls C of the multi-turn arms.") var multiTurnCalls = 5
    @Option(name: .customLong("set"), help: "Override a shared GRPO field, e.g. --set lr=5e-4 (repeatable; not the arm fields).")
    var overrides: [String] = []
    @Flag(help: "A few small steps (< 5 minutes): checks the pipeline, proves nothing.") var quick = false
    @Flag(help: "Keep each run's final checkpoint (about 40 MB each).") var keepCheckpoints = false
    @Flag(help: "Only rewrite the report from the finished runs in --out (no training).") var reportOnly = false
    @Flag(help: "Continue the experiment in --out: reuse finished runs, resume interrupted ones.") var resume = false
    @Flag(help: "Run every arm and seed in --out again from the base.") var force = false
    @Flag(help: "Run the sweep: every lever condition (see --list-presets) x its arms, 2 seeds x 50 steps (about 30 minutes on 2 cores, bases included); writes a phase table.")
    var sweep = false
    @Flag(help: "With --sweep: the larger preset (3 seeds x 150 steps of 16 x 8).") var large = false
    @Option(help: "Run one named condition of the sweep with 3 seeds x 100 steps (see --list-presets).") var preset: String?
    @Flag(help: "List the sweep's conditions (the presets) and exit.") var listPresets = false
    @Option(help: "With --sweep: only these conditions, comma-separated (e.g. hot,bf16).") var conditions: String?

    func validate() throws {
        if let steps, steps < 1 { throw ValidationError("--steps must be >= 1") }
        if let seeds, seeds < 1 { throw ValidationError("--seeds must be >= 1") }
        if multiTurnCalls < 2 { throw ValidationError("--multi-turn-calls must be >= 2 (1 is the single-turn arm)") }
        if resume && force { throw ValidationError("--resume and --force exclude each other") }
        for o in overrides {
            let key = GRPOConfig.schema.canonical(String(o.prefix { $0 != "=" }))
            if ExperimentArm.armKeys.contains(key) || key == "seed" || key == "steps" {
                throw ValidationError("--set \(key)=... is not allowed: the arms set \(ExperimentArm.armKeys.sorted().joined(separator: ", ")); use --steps, --seeds, --multi-turn-calls")
            }
        }
    }

    func run() async throws {
        if reportOnly { try requireOneProcess("tir experiment instability --report-only") }
        if listPresets {
            guard Cluster.shared.isRoot else { return }
            for (title, catalog) in [("the toy policy (--base)", InstabilitySweep.catalog(calls: multiTurnCalls)),
                                     ("a real model (--checkpoint)", InstabilitySweep.realCatalog(calls: multiTurnCalls))] {
                print("conditions for \(title):")
                for c in catalog {
                    print("  \(c.name): \(c.summary)\n      overrides: \(c.overrides.isEmpty ? "-" : c.overrides.joined(separator: " "))"
                          + (c.baseStep.map { ", base: pretraining step \($0)" } ?? "") + "\n      arms: \(c.arms.map(\.name).joined(separator: ", "))")
                }
            }
            return
        }
        if probe { return try await runProbe() }
        if sweep || preset != nil || realCheckpoint { return try await runSweep() }
        let start = Date()
        var settings = quick
            ? InstabilitySettings.quick(steps: steps ?? 4, seeds: seeds ?? 2, multiTurnCalls: multiTurnCalls)
            : InstabilitySettings.defaults(steps: steps ?? 100, seeds: seeds ?? 3, multiTurnCalls: multiTurnCalls)
        if !overrides.isEmpty {
            var shared = try GRPOConfig.load(json: Data(), overrides: overrides, over: settings.shared)
            shared.seed = settings.shared.seed
            settings.shared = shared
        }
        let outDir = url(out)
        let cluster = Cluster.shared
        let bases = try await self.bases(outDir: outDir, earlySteps: [], cluster: cluster)
        let baseDir = bases.main, baseNote = bases.note

        var experiment = try InstabilityExperiment(settings: settings, outDir: outDir, base: baseDir)
        experiment.keepCheckpoints = keepCheckpoints
        let runs: [ExperimentRun]
        if reportOnly {
            runs = try experiment.finishedRuns()
            guard !runs.isEmpty else { throw ValidationError("no finished runs for these settings in \(outDir.path)") }
        } else {
            guard let trained = try await train(experiment, cluster: cluster) else { return }   // ranks other than 0
            runs = trained
        }
        var report = InstabilityReport(experiment: experiment, runs: runs)
        report.totalSeconds = reportOnly ? nil : Date().timeIntervalSince(start)
        report.baseNote = baseNote
        report.overrides = overrides
        let files = try report.write()
        if let note = files.pngSkipped { Status.info("warning: \(note)") }
        print(try String(contentsOf: files.report, encoding: .utf8).components(separatedBy: "## Conclusion").last.map { "Conclusion" + $0 } ?? "")
        print("""
        outputs in \(outDir.path):
          REPORT.md, summary.csv, runs.csv, \(files.svgs.count) SVG plots, \(files.pngs.count) PNG plots
          per-run metrics: arms/<arm>/seed-<k>/metrics.jsonl
        """)
    }

    /// Whether --checkpoint names a real model (a known name, or a model with its own tokenizer).
    var realCheckpoint: Bool {
        checkpoint.map { KnownModel(rawValue: $0) != nil || !isByteLevel(url($0)) } ?? false
    }

    /// Trains the experiment's runs (shared over the ranks under mpirun); rank 0 gets every finished run, the
    /// other ranks nil.
    func train(_ experiment: InstabilityExperiment, cluster: Cluster) async throws -> [ExperimentRun]? {
        let s = experiment.settings, c = s.shared
        Status.info("instability experiment: \(s.arms.count) arms x \(s.seeds.count) seeds x \(c.steps) steps of "
                    + "\(c.promptsPerStep) x \(c.groupSize), base \(experiment.base.path) -> \(experiment.outDir.path)" + ranksNote(cluster))
        let pool = try makeSandbox(c.sandbox)
        defer { pool.shutdown() }
        let line = sharedProgress("experiment step", total: experiment.plan.count * c.steps, cluster: cluster)
        let outcome = try await experiment.run(executor: pool, start: force ? .force : resume ? .resume : .new, cluster: cluster) { p in
            let m = p.metrics
            func f(_ k: String) -> Double { m[k] ?? .nan }
            let step = Int(f("step"))
            line.show(step: p.finished, String(format: "run %d/%d %@ seed %llu step %d/%d  grad %.3g (max %.3g)  acc %.2f  low-p %.3f  void %.2f  err %.2f  %.1fs",
                               p.run + 1, p.runs, p.arm.name, p.seed, step, c.steps, f("actor/grad_norm"), f("tir/grad_norm_max"),
                               f("tir/accuracy"), f("tir/low_prob/1e-3"), f("env/void_turn_ratio"), f("tir/exec_error_rate"),
                               f("timing_s/step")), eta: p.eta, final: step == c.steps)
        }
        reportShare(outcome.share, cluster: cluster)
        return cluster.isRoot ? outcome.runs : nil
    }
}
