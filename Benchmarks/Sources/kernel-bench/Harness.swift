import Foundation

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
    let baselineMs: Double? // best time of raw cblas_sgemm
}

@inline(__always)
func nowSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Runs the Tensor path and the baseline alternately (A B A B ...) so both see the same machine load, and
/// keeps the best time of each: on a shared machine the minimum is the least disturbed measurement.
func measure(_ c: BenchCase, budgetSeconds: Double, maxReps: Int = 40) throws -> BenchResult {
    let (run, baseline) = try c.setup()
    func once(_ f: () throws -> Void) rethrows -> Double {
        let t0 = nowSeconds(); try f(); return nowSeconds() - t0
    }
    // warm-up: first touch of buffers, BLAS thread start-up
    var best = try once(run)
    var bestBase = baseline.map { once($0) }
    let per = best + (bestBase ?? 0)
    let reps = max(3, min(maxReps, Int(budgetSeconds / max(per, 1e-6))))
    for _ in 0..<reps {
        best = min(best, try once(run))
        if let b = baseline { bestBase = min(bestBase!, once(b)) }
    }
    return BenchResult(c: c, ms: best * 1e3, baselineMs: bestBase.map { $0 * 1e3 })
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
