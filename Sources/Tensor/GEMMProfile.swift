import Foundation
import COpenBLAS

/// The sgemm calls a piece of work makes, and how fast each shape runs on its own: the "sgemm-bound
/// limit" of a training step is the time its GEMMs would take if every one ran as fast as an isolated
/// sgemm of the same shape. What the step spends beyond that is everything else (norms, attention,
/// elementwise work, packing, allocation, synchronisation).
public enum GEMMProfile {
    public struct Shape: Hashable, Sendable, CustomStringConvertible {
        public var m: Int, n: Int, k: Int, transA: Bool, transB: Bool
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
        public var description: String {
            "[\(m)x\(k)]\(transA ? "ᵀ" : "")·[\(k)x\(n)]\(transB ? "ᵀ" : "")"
        }
    }

    nonisolated(unsafe) private static var calls: [Shape: Int]?
    private static let lock = NSLock()

    /// Called by `Kernels.sgemm` for every product (one unlocked load when not recording).
    @inline(__always)
    static func note(m: Int, n: Int, k: Int, transA: Bool, transB: Bool) {
        guard calls != nil else { return }
        lock.lock(); defer { lock.unlock() }
        calls?[Shape(m: m, n: n, k: k, transA: transA, transB: transB), default: 0] += 1
    }

    /// Runs `body` and returns the sgemm shapes it called, with call counts. Not reentrant.
    public static func record(_ body: () throws -> Void) rethrows -> [Shape: Int] {
        calls = [:]
        defer { calls = nil }
        try body()
        return calls ?? [:]
    }

    /// Median seconds of one `Kernels.sgemm` of `shape` on random inputs, at the current `Threads.count`
    /// (our split over single-threaded OpenBLAS calls), or with OpenBLAS's own `openblasThreads` threads.
    public static func time(_ s: Shape, reps: Int = 5, openblasThreads: Int? = nil) -> Double {
        var rng = RNG(seed: 1)
        let a = Tensor(zeros: [s.m * s.k]), b = Tensor(zeros: [s.k * s.n]), c = Tensor(zeros: [s.m * s.n])
        for t in [a, b] { for i in 0..<t.count { t.data[i] = rng.uniform() - 0.5 } }   // values do not change the time
        let lda = s.transA ? s.m : s.k, ldb = s.transB ? s.k : s.n
        func run() {
            if let openblasThreads {
                openblas_set_num_threads(Int32(openblasThreads))
                Kernels.sgemm1(transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k, alpha: 1, a: a.data,
                               lda: lda, b: b.data, ldb: ldb, beta: 0, c: c.data, ldc: s.n)
                openblas_set_num_threads(1)
            } else {
                Kernels.sgemm(transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k, a: a.data, lda: lda,
                              b: b.data, ldb: ldb, beta: 0, c: c.data, ldc: s.n)
            }
        }
        run()
        var times = [Double]()
        for _ in 0..<max(1, reps) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            run()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        return times.sorted()[times.count / 2]
    }
}
