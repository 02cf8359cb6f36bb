import CBLAS
import Foundation
import Tensor

/// What one call of a benchmark does, for the throughput column.
enum Work {
    case flops(Double)      // floating-point operations (a multiply-add counts 2)
    case bytes(Double)      // bytes moved (the formula is stated in the case's note)
}

/// One row of the table. `setup` allocates inputs (outside the timing) and returns the Tensor-path call
/// and, for matmul ops, a raw `cblas_sgemm` call doing the same arithmetic for the ratio column.
struct BenchCase {
    let op: String
    let shape: String
    let work: Work
    var note: String = ""
    let setup: () throws -> (run: () throws -> Void, baseline: (() -> Void)?)
}

struct BenchResult {
    let c: BenchCase
    let ms: Double          // best time of the Tensor path
    let baselineMs: Double? // best time of raw cblas_sgemm (OpenBLAS with Threads.count threads)
}

@inline(__always)
func nowSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Best time of each path. The raw sgemm runs with as many OpenBLAS threads as the Tensor path has workers
/// (`Threads.count`), so the ratio compares like with like. It is measured in its own block after the
/// Tensor reps: after each threaded call OpenBLAS's workers spin for a while (sched_yield), which would slow
/// Tensor reps interleaved with it. The pause afterwards lets them park before the next row. The minimum
/// is kept because on a shared machine it is the least disturbed measurement.
func measure(_ c: BenchCase, budgetSeconds: Double, maxReps: Int = 40) throws -> BenchResult {
    let (run, baseline) = try c.setup()
    func best(_ f: () throws -> Void) rethrows -> Double {
        var t0 = nowSeconds()
        try f()                                   // warm-up: first touch of buffers, BLAS thread start-up
        let first = nowSeconds() - t0
        var b = first
        for _ in 0..<max(3, min(maxReps, Int(budgetSeconds / 2 / max(first, 1e-6)))) {
            t0 = nowSeconds(); try f(); b = min(b, nowSeconds() - t0)
        }
        return b
    }
    let ms = try best(run) * 1e3
    var baseMs: Double?
    if let baseline {
        openblas_set_num_threads(Int32(Threads.count))
        baseMs = best(baseline) * 1e3
        openblas_set_num_threads(1)
        usleep(200_000)
    }
    return BenchResult(c: c, ms: ms, baselineMs: baseMs)
}

/// Prints the table: op, shape, ms, GFLOP/s or GB/s, raw sgemm ms, Tensor/raw throughput ratio.
func printTable(_ results: [BenchResult]) {
    let header = ["op", "shape", "ms", "GFLOP/s", "GB/s", "sgemm ms", "vs sgemm"]
    var rows: [[String]] = []
    for r in results {
        var gflops = "", gbs = ""
        switch r.c.work {
        case .flops(let f): gflops = String(format: "%.1f", f / (r.ms * 1e-3) / 1e9)
        case .bytes(let b): gbs = String(format: "%.1f", b / (r.ms * 1e-3) / 1e9)
        }
        let base = r.baselineMs.map { String(format: "%.3f", $0) } ?? "-"
        let ratio = r.baselineMs.map { String(format: "%.0f%%", 100 * $0 / r.ms) } ?? "-"
        rows.append([r.c.op, r.c.shape, String(format: "%.3f", r.ms), gflops, gbs, base, ratio])
    }
    let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max()! }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, s in
            i < 2 ? s.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                  : String(repeating: " ", count: widths[i] - s.count) + s
        }.joined(separator: " | ")
    }
    print(line(header))
    print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "-|-"))
    for row in rows { print(line(row)) }
    let notes = Set(results.map(\.c.note).filter { !$0.isEmpty })
    for n in notes.sorted() { print("  note: \(n)") }
}

/// Makes `loss.backward()` run exactly the backward of the op that produced `output`: dOutput is filled
/// once with small random values and a no-op scalar "loss" on top passes nothing further down.
/// Gradients of the inputs accumulate across calls, as they would over micro-batches.
func backwardOnly(_ output: Tensor, seed: UInt64) -> () throws -> Void {
    var rng = RNG(seed: seed)
    let g = output.ensureGrad()
    for i in 0..<output.count { g[i] = rng.normal() * 1e-3 }
    let loss = Tensor.record(Tensor(zeros: [1]), inputs: [output]) { _ in }
    return { try loss.backward() }
}
