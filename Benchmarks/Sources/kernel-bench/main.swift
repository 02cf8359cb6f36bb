import CBLAS
import Foundation
import Tensor

// kernel-bench: Tensor kernels at the model's shapes, next to raw cblas_sgemm measured in the same run.
//   swift run -c release kernel-bench [--threads N] [--filter TEXT]... [--quick | --budget SECONDS]
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
    case "--budget": budget = args.popFirst().flatMap(Double.init) ?? budget
    default:
        print("usage: kernel-bench [--threads N] [--filter TEXT]... [--quick | --budget SECONDS per row]")
        exit(a == "--help" || a == "-h" ? 0 : 2)
    }
}
if let threads { Threads.set(threads) }
let machine = MachineInfo.configure()   // the OpenBLAS core for this CPU, as `tir` chooses it

let allCases: [BenchCase] =
    linearCases(.small) + linearCases(.base)
    + linearCases(.small, decode: true) + linearCases(.base, decode: true)
    + attentionCases(.small) + attentionCases(.base)
    + rmsNormCases(.small) + rmsNormCases(.base)
    + logProbCases(rows: 4096, vocab: 260)
    + optimizerCases(.small) + optimizerCases(.base)

let selected = allCases.filter { c in filters.isEmpty || filters.contains { "\(c.op) \(c.shape)".contains($0) } }
let config = String(cString: openblas_get_config())
/// Other processes skew timings on a shared machine: show the load so a reader can judge the figures.
func loadAverage() -> String {
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
}
print(machine.line)
print("kernel-bench: \(selected.count) ops, Tensor threads \(Threads.count), raw sgemm with \(Threads.count) OpenBLAS "
      + "threads (\(config)), best of reps, load average \(loadAverage())")
var results: [BenchResult] = []
for c in selected {
    do {
        results.append(try measure(c, budgetSeconds: budget))
    } catch {
        print("\(c.op): \(error)")
    }
}
printTable(results)
print("load average at the end: \(loadAverage())")
