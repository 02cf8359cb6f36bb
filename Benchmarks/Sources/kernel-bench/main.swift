import CBLAS
import Foundation
import Tensor

// kernel-bench: Tensor kernels at the model's shapes, next to raw cblas_sgemm measured in the same run.
//   swift run -c release kernel-bench [--threads N] [--filter TEXT] [--quick]
// To add an op (attention, RMSNorm, ...): write a function returning [BenchCase] and append it to `allCases`.

var threads: Int?
var filters: [String] = []
var budget = 1.0      // seconds per row
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--threads": threads = args.popFirst().flatMap(Int.init)
    case "--filter": if let f = args.popFirst() { filters.append(f) }
    case "--quick": budget = 0.2
    default:
        print("usage: kernel-bench [--threads N] [--filter TEXT]... [--quick]")
        exit(a == "--help" || a == "-h" ? 0 : 2)
    }
}
if let threads { Threads.set(threads) }

let allCases: [BenchCase] =
    linearCases(.small) + linearCases(.base)
    + linearCases(.small, decode: true) + linearCases(.base, decode: true)
    + logProbCases(rows: 4096, vocab: 260)

let selected = allCases.filter { c in filters.isEmpty || filters.contains { "\(c.op) \(c.shape)".contains($0) } }
let config = String(cString: openblas_get_config())
print("kernel-bench: \(selected.count) ops, Tensor threads \(Threads.count), OpenBLAS threads \(openblas_get_num_threads()) (\(config)), best of reps")
var results: [BenchResult] = []
for c in selected {
    do {
        results.append(try measure(c, budgetSeconds: budget))
    } catch {
        print("\(c.op): \(error)")
    }
}
printTable(results)
