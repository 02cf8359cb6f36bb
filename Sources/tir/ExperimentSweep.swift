import Foundation
import ArgumentParser
import Distributed
import Experiments
import GRPO
import Model
import Pretrain
import Training

extension ExperimentInstability {
    /// `--sweep` / `--preset NAME`: the lever conditions, each an instability experiment in
    /// `<out>/conditions/<name>/`, then the sweep's REPORT.md with the phase table.
    func runSweep() async throws {
        let start = Date()
        var s: InstabilitySweep
        if realCheckpoint {
            if let preset {
                s = try InstabilitySweep.realPreset(preset, steps: steps ?? 20, seeds: seeds ?? 3)
            } else if large {
                s = InstabilitySweep.realLarge(steps: steps ?? 300, seeds: seeds ?? 3)
            } else {
                s = InstabilitySweep.realStandard(steps: steps ?? 20, seeds: seeds ?? 2)
            }
        } else if let preset {
            s = try InstabilitySweep.preset(preset, steps: steps ?? 100, seeds: seeds ?? 3)
        } else if large {
            s = InstabilitySweep.large(steps: steps ?? 150, seeds: seeds ?? 3)
        } else {
            s = InstabilitySweep.standard(steps: steps ?? 50, seeds: seeds ?? 2)
        }
        if let conditions {
            let names = conditions.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            for n in names where !s.conditions.contains(where: { $0.name == n }) {
                throw ValidationError("unknown condition '\(n)'; conditions: \(s.conditions.map(\.name).joined(separator: ", "))")
            }
            s.conditions = s.conditions.filter { names.contains($0.name) }
        }
        if quick {     // the pipeline on a few small steps, one seed: proves nothing
            s.shared.steps = steps ?? 3
            s.shared.promptsPerStep = 4
            s.shared.groupSize = 4
            s.shared.checkpointEvery = 0
            s.seeds = [1]
        }
        if !overrides.isEmpty {
            let seed = s.shared.seed
            s.shared = try GRPOConfig.load(json: Data(s.shared.json.utf8), overrides: overrides)
            s.shared.seed = seed
        }
        let outDir = url(out)
        let cluster = Cluster.shared
        let bases = try await self.bases(outDir: outDir, earlySteps: Set(s.conditions.compactMap(\.baseStep)), cluster: cluster)
        var runner = try SweepRunner(sweep: s, outDir: outDir, bases: bases.byStep)
        runner.keepCheckpoints = keepCheckpoints
        let results: [ConditionResult]
        if reportOnly {
            results = try runner.finished()
            guard !results.isEmpty else { throw ValidationError("no finished runs of this sweep in \(outDir.path)") }
        } else {
            guard let trained = try await train(runner, cluster: cluster) else { return }   // ranks other than 0
            results = trained
        }
        var report = SweepReport(results: results, sweep: s, outDir: outDir)
        report.totalSeconds = reportOnly ? nil : Date().timeIntervalSince(start)
        report.command = (cluster.size > 1 ? "mpirun -np \(cluster.size) " : "") + "tir " + CommandLine.arguments.dropFirst().joined(separator: " ")
        let file = try report.write()
        print(try String(contentsOf: file, encoding: .utf8).components(separatedBy: "## Phase table").first ?? "")
        print("outputs in \(outDir.path): REPORT.md, phases.csv, conditions/<name>/REPORT.md")
    }

    /// Trains the sweep's runs (shared over the ranks under mpirun); rank 0 gets the results, the others nil.
    func train(_ runner: SweepRunner, cluster: Cluster) async throws -> [ConditionResult]? {
        let s = runner.sweep, c = s.shared
        let runs = s.conditions.reduce(0) { $0 + $1.arms.count } * s.seeds.count
        Status.info("instability sweep: \(s.conditions.count) conditions, \(runs) runs of \(c.steps) steps of "
                    + "\(c.promptsPerStep) x \(c.groupSize) -> \(runner.outDir.path)" + ranksNote(cluster))
        let pool = try makeSandbox(c.sandbox)
        defer { pool.shutdown() }
        let line = sharedProgress("sweep step", total: runs * c.steps, cluster: cluster)
        var finished: [String: Int] = [:]   // this process's share of the steps done, per condition
        let outcome = try await runner.run(executor: pool, start: force ? .force : .resumeOrNew, cluster: cluster) { cond, p in
            let m = p.metrics
            func f(_ k: String) -> Double { m[k] ?? .nan }
            finished[cond.name] = p.finished
            let step = Int(f("step"))
            line.show(step: finished.values.reduce(0, +),
                      String(format: "%@ run %d/%d %@ seed %llu step %d  grad %.3g (max %.3g)  low-p share %.3f  acc %.2f  void %.2f  %.1fs",
                             cond.name, p.run + 1, p.runs, p.arm.name, p.seed, step, f("actor/grad_norm"), f("tir/grad_norm_max"),
                             f("tir/lowprob_grad_share"), f("tir/accuracy"), f("env/void_turn_ratio"), f("timing_s/step")),
                      final: step == c.steps)
        }
        reportShare(outcome.share, cluster: cluster)
        return cluster.isRoot ? outcome.results : nil
    }
}
