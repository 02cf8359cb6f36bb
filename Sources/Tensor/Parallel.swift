import Foundation
import COpenBLAS

/// Thread settings shared by every kernel. All parallelism is ours: loops split rows over `count` workers
/// of the `WorkerPool`, and `Kernels.sgemm` splits large products the same way over single-threaded
/// OpenBLAS calls. OpenBLAS's own threads stay off: after each call its workers spin (sched_yield) for
/// a long time, competing with our workers and burning CPU time that our own split does not
/// (docs/PERFORMANCE.md).
public enum Threads {
    nonisolated(unsafe) public private(set) static var count: Int = {
        openblas_set_num_threads(1)   // before any BLAS call: this initializer runs on first use of `count`
        return available
    }()

    /// The CPUs this process may run on: its affinity mask (mpirun binds each rank to its cores, taskset and
    /// container limits narrow it too), not all of the machine's.
    public static var available: Int {
        let cpus = Int(tir_affinity_cpus())
        return cpus > 0 ? cpus : max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// True while a kernel's own workers run (set by the thread that starts them): BLAS calls made from
    /// them must not split again. A plain global, like the tape: only one thread builds graphs and starts
    /// kernels. It only steers parallelism, never results.
    nonisolated(unsafe) static var insideWorkers = false

    /// Sets the worker count for our kernels (OpenBLAS itself stays single-threaded).
    public static func set(_ n: Int) {
        _ = count   // the initializer pins OpenBLAS to one thread
        count = max(1, n)
    }
}

/// Splits 0..<n into at most `Threads.count` contiguous chunks of at least `minChunk` items and runs
/// `body` on each chunk concurrently. Runs inline when one chunk suffices.
@inline(__always)
public func parallelFor(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    if n <= 0 { return }
    let chunks = min(Threads.count, max(1, n / max(1, minChunk)))
    if chunks == 1 { body(0..<n); return }
    let per = (n + chunks - 1) / chunks
    WorkerPool.shared.run(chunks: chunks, threads: Threads.count) { c in
        let lo = c * per, hi = min(n, lo + per)
        if lo < hi { body(lo..<hi) }
    }
}
