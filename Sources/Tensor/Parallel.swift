import Foundation
import COpenBLAS

/// Thread settings shared by every kernel. Our own loops split rows over `threads` workers with
/// concurrentPerform; BLAS calls made from inside such a loop must be single-threaded, so kernels that
/// parallelize themselves never call a threaded BLAS from a worker (DESIGN.md).
public enum Threads {
    nonisolated(unsafe) public private(set) static var count = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Sets the worker count for our kernels and OpenBLAS.
    public static func set(_ n: Int) {
        count = max(1, n)
        openblas_set_num_threads(Int32(count))
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
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = c * per, hi = min(n, lo + per)
        if lo < hi { body(lo..<hi) }
    }
}
