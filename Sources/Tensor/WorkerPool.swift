import Foundation
import Synchronization
import COpenBLAS

/// Fork/join over persistent worker threads that spin for a short while after each job before they sleep
/// (as OpenMP runtimes do). With GCD's concurrentPerform an idle worker parks at once, and waking it (a
/// futex, and on this VM a halted vCPU) costs every fork tens of microseconds; decode steps and the many
/// small kernels of a training step fork back to back (docs/PERFORMANCE.md).
///
/// Chunks are claimed dynamically: the calling thread claims chunks too, so a late or slow worker never
/// holds up the job: the caller runs what is left. One job at a time; a fork requested while a job runs
/// (from a worker, or from a second thread) runs inline on the requesting thread.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// How long an idle worker polls before it sleeps: well above the serial gap between two forks of a
    /// decode step (tens of microseconds), small next to a sandbox call (milliseconds), during which a
    /// spinning worker would take CPU from the interpreter.
    static let spinNanoseconds: UInt64 = 200_000

    /// The current job's generation (high 32 bits), chunk count (16 bits) and next unclaimed chunk (16 bits).
    /// A claim is a compare-and-swap on this word, so it can never land on a later job.
    private let claim = Atomic<UInt64>(0)
    private let finished = Atomic<Int>(0)      // chunks of the current job that have completed
    private let busy = Atomic<Bool>(false)
    private var body: ((Int) -> Void)?         // the current job; read only after a successful claim
    private var generation: UInt64 = 0
    private var workers = 0
    private let sleep = NSCondition()          // guards `sleepers`; idle workers wait on it
    private var sleepers = 0

    /// Runs body(0..<chunks) on the caller and up to `threads - 1` workers; returns when all have run.
    func run(chunks: Int, threads: Int, _ body: (Int) -> Void) {
        guard chunks > 1, threads > 1, chunks < 1 << 16,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for c in 0..<max(0, chunks) { body(c) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        startWorkers(min(threads, chunks) - 1)
        withoutActuallyEscaping(body) { job in
            self.body = job
            finished.store(0, ordering: .relaxed)
            generation = (generation + 1) & 0xffff_ffff
            claim.store(generation << 32 | UInt64(chunks) << 16, ordering: .releasing)
            sleep.lock()
            if sleepers > 0 { sleep.broadcast() }
            sleep.unlock()
            work(generation)
            var polls = 0
            while finished.load(ordering: .acquiring) < chunks {
                polls += 1
                if polls < 4096 { tir_cpu_relax() } else { sched_yield() }   // a descheduled worker: let it run
            }
            self.body = nil
        }
    }

    /// Claims and runs chunks of job `gen` until none are left (or a newer job replaced it).
    private func work(_ gen: UInt64) {
        var word = claim.load(ordering: .acquiring)
        while word >> 32 == gen {
            let count = (word >> 16) & 0xffff, next = word & 0xffff
            if next >= count { return }
            let (exchanged, seen) = claim.compareExchange(expected: word, desired: word + 1,
                                                          ordering: .acquiringAndReleasing)
            if exchanged {
                runChunk(Int(next))
                finished.add(1, ordering: .releasing)
                word = claim.load(ordering: .acquiring)
            } else {
                word = seen
            }
        }
    }

    /// Calls the job in its own frame so the worker's reference to the closure is gone before the chunk is
    /// counted as finished (the caller clears `body` as soon as every chunk is).
    @inline(never)
    private func runChunk(_ c: Int) { body!(c) }

    private func startWorkers(_ n: Int) {
        while workers < n {
            let t = Thread { [unowned self] in self.workerLoop() }
            t.stackSize = 8 << 20
            t.name = "tir-worker-\(workers)"
            t.start()
            workers += 1
        }
    }

    private func workerLoop() {
        var seen: UInt64 = 0
        while true {
            seen = waitForJob(after: seen)
            work(seen)
        }
    }

    /// Polls for a generation other than `seen` for `spinNanoseconds`, then sleeps until one is published.
    private func waitForJob(after seen: UInt64) -> UInt64 {
        let deadline = DispatchTime.now().uptimeNanoseconds + Self.spinNanoseconds
        var polls = 0
        while true {
            let gen = claim.load(ordering: .acquiring) >> 32
            if gen != seen { return gen }
            tir_cpu_relax()
            polls += 1
            if polls % 64 == 0 && DispatchTime.now().uptimeNanoseconds > deadline { break }
        }
        sleep.lock()
        sleepers += 1
        var gen = claim.load(ordering: .acquiring) >> 32
        while gen == seen {
            sleep.wait()
            gen = claim.load(ordering: .acquiring) >> 32
        }
        sleepers -= 1
        sleep.unlock()
        return gen
    }
}
