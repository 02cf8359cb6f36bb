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

    /// The CPUs this process should use: its affinity mask (mpirun binds each rank to its cores; taskset and
    /// cpusets narrow it too), or, when the mask is the whole machine and mpirun started several ranks on
    /// this host without binding them (more than 2 ranks, --oversubscribe), the machine's share of one rank.
    public static var available: Int {
        let machine = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let mask = affinityCPUs((try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? "") ?? machine
        let env = ProcessInfo.processInfo.environment
        let localRanks = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"].lazy.compactMap { env[$0].flatMap(Int.init) }.first ?? 1
        return mask < machine ? mask : max(1, mask / max(1, localRanks))
    }

    /// The CPUs of the "Cpus_allowed_list:  0-3,8" line of /proc/self/status (Linux), nil without one.
    static func affinityCPUs(_ status: String) -> Int? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
        var n = 0
        for part in line.dropFirst("Cpus_allowed_list:".count).split(separator: ",") {
            let ends = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard let lo = ends.first ?? nil, let hi = ends.last ?? nil, ends.count <= 2, hi >= lo else { return nil }
            n += hi - lo + 1
        }
        return n > 0 ? n : nil
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
