import XCTest
import Foundation
@testable import Tensor

final class WorkerPoolTests: XCTestCase {
    /// Every chunk of every job runs exactly once, across many back-to-back jobs (workers spinning) and
    /// jobs after a pause long enough for the workers to have gone to sleep.
    func testEveryChunkRunsOnce() {
        let pool = WorkerPool.shared
        for job in 0..<2000 {
            let chunks = 2 + job % 7
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: chunks)
            counts.initialize(repeating: 0, count: chunks)
            defer { counts.deallocate() }
            pool.run(chunks: chunks, threads: 2 + job % 3) { c in counts[c] += 1 }   // distinct chunks: no race
            XCTAssertEqual(Array(UnsafeBufferPointer(start: counts, count: chunks)), Array(repeating: 1, count: chunks))
            if job % 500 == 499 { usleep(2 * UInt32(WorkerPool.spinNanoseconds / 1000)) }
        }
    }

    /// A fork requested from inside a running job (a nested parallel loop) runs inline instead of waiting
    /// for the busy pool, and so does one from a second thread while a job runs.
    func testNestedAndConcurrentForksRunInline() {
        let pool = WorkerPool.shared
        let total = UnsafeMutablePointer<Int>.allocate(capacity: 4 * 3)
        total.initialize(repeating: 0, count: 12)
        defer { total.deallocate() }
        pool.run(chunks: 4, threads: 2) { outer in
            pool.run(chunks: 3, threads: 2) { inner in total[outer * 3 + inner] += 1 }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: total, count: 12)), Array(repeating: 1, count: 12))

        let done = DispatchGroup()
        nonisolated(unsafe) let sums = UnsafeMutablePointer<Int>.allocate(capacity: 2)   // one slot per thread
        sums.initialize(repeating: 0, count: 2)
        defer { sums.deallocate() }
        for t in 0..<2 {
            DispatchQueue.global().async(group: done) {
                for _ in 0..<500 {
                    let parts = UnsafeMutablePointer<Int>.allocate(capacity: 4)
                    parts.initialize(repeating: 0, count: 4)
                    pool.run(chunks: 4, threads: 2) { c in parts[c] = c + 1 }
                    sums[t] += (0..<4).map { parts[$0] }.reduce(0, +)
                    parts.deallocate()
                }
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(sums[0], 500 * 10)
        XCTAssertEqual(sums[1], 500 * 10)
    }

    /// Threads default to the CPUs of the affinity mask (one per core mpirun bound a rank to), not the machine's.
    func testAffinityCPUsParseTheAllowedList() {
        XCTAssertEqual(Threads.affinityCPUs("Name:\ttir\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n"), 2)
        XCTAssertEqual(Threads.affinityCPUs("Cpus_allowed_list:\t1\n"), 1)
        XCTAssertEqual(Threads.affinityCPUs("Cpus_allowed_list:\t0-3,8,10-11\n"), 7)
        XCTAssertNil(Threads.affinityCPUs("Name:\ttir\n"))
        XCTAssertNil(Threads.affinityCPUs("Cpus_allowed_list:\t3-1\n"))
        XCTAssertNil(Threads.affinityCPUs("Cpus_allowed_list:\tx\n"))
        XCTAssertGreaterThanOrEqual(Threads.available, 1)
    }
}
