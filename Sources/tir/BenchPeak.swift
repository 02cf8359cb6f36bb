import ArgumentParser
import Foundation
import Tensor
import Training

/// `tir bench peak`: raw sgemm GFLOP/s at the shapes a training step calls, on 1 and N threads.
struct BenchPeak: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peak", abstract: "Raw sgemm GFLOP/s at the training step's shapes, on 1 and N threads.",
        discussion: """
        Records the sgemm calls of one `tir bench train` step, then times each distinct shape alone: \
        OpenBLAS on 1 thread, our split over N single-threaded calls, and OpenBLAS's own N threads.
        """)

    @Option(help: "small | base") var config = "small"
    @Option(help: "Take the shapes of this model's step instead (a tir run, a Hugging Face directory or a .gguf file), with --batch x --ctx.")
    var checkpoint: String?
    @Option(help: "Sequences per step with --checkpoint.") var batch = 8
    @Option(help: "Tokens per sequence with --checkpoint.") var ctx = 256
    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "Timed repetitions per shape (median reported).") var reps = 5
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        try requireCount("reps", reps)
        try requireCount("threads", threads)
        try requireCount("batch", batch)
        try requireCount("ctx", ctx, min: 2)
    }

    func run() throws {
        let n = threads ?? Threads.available
        Threads.set(n)
        let model = try checkpoint.map { try loadModel(url($0)) }
        let shape = try model.map { ReferenceShape(config: $0.policy.config, batch: batch, ctx: ctx) } ?? ReferenceShape.named(config)
        let config = checkpoint ?? self.config
        let step = try TrainingStep(shape, policy: model?.policy)
        _ = try step.run()
        let calls = try GEMMProfile.record { _ = try step.run() }
        var rows = [[String: Any]](), total = (flops: 0.0, one: 0.0, split: 0.0, blasN: 0.0)
        for (s, count) in calls.sorted(by: { $0.key.flops * Double($0.value) > $1.key.flops * Double($1.value) }) {
            let one = GEMMProfile.time(s, reps: reps, openblasThreads: 1)
            let split = GEMMProfile.time(s, reps: reps)
            let blasN = GEMMProfile.time(s, reps: reps, openblasThreads: n)
            let c = Double(count)
            total = (total.flops + c * s.flops, total.one + c * one, total.split + c * split, total.blasN + c * blasN)
            rows.append(["shape": s.description, "calls": count, "gflops_1": s.flops / one * 1e-9,
                         "gflops_n_split": s.flops / split * 1e-9, "gflops_n_openblas": s.flops / blasN * 1e-9])
        }
        let summary: [String: Any] = ["config": config, "shapes": rows,
                                      "gflops_1": total.flops / total.one * 1e-9,
                                      "gflops_n_split": total.flops / total.split * 1e-9,
                                      "gflops_n_openblas": total.flops / total.blasN * 1e-9]
        if json { try printBenchJSON(summary); return }
        print("bench peak \(config): sgemm GFLOP/s at the training step's shapes; \(MachineInfo.current.line)")
        print("shape".padding(toLength: 28, withPad: " ", startingAt: 0) + " calls   1 thread  \(n) (split)  \(n) (OpenBLAS)")
        for r in rows {
            let name = (r["shape"] as! String).padding(toLength: 28, withPad: " ", startingAt: 0)
            print(name + String(format: " %5d %10.0f %11.0f %14.0f", r["calls"] as! Int,
                         r["gflops_1"] as! Double, r["gflops_n_split"] as! Double, r["gflops_n_openblas"] as! Double))
        }
        print("all (flop-weighted)".padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: " %10.0f %11.0f %14.0f",
                     summary["gflops_1"] as! Double, summary["gflops_n_split"] as! Double,
                     summary["gflops_n_openblas"] as! Double))
    }
}
