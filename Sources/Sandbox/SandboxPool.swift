import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A pool of warm, isolated Python fork-servers. Safe to use from many tasks/threads at once.
///
/// Each worker is owned by one dedicated thread that does the blocking socket I/O, so a 3 s snippet never
/// blocks Swift's cooperative thread pool. The same long-lived thread spawns its sandboxes: bwrap's
/// --die-with-parent fires when the *spawning thread* exits, so spawning from a transient thread would
/// kill healthy workers.
public final class SandboxPool: @unchecked Sendable {
    public let limits: SandboxLimits
    public let workerCount: Int
    /// What the first fork-server reported about its sandbox (uid, pid 1, no caps, loopback only, preloads).
    public let isolation: SandboxIsolationReport
    public static var isolationMeasures: [String] { SandboxWorker.isolationMeasures }

    /// Counts sandbox failures in a row for `runRetryingSandboxFailures`.
    public let failureGuard: SandboxFailureGuard

    private let core: PoolCore

    /// Starts `workers` sandboxes and waits until each has reported a verified isolated sandbox.
    /// Throws `SandboxError.isolationUnavailable` (with bwrap's message) rather than ever running unprotected.
    /// `maxConsecutiveFailures`: sandbox failures in a row after which `runRetryingSandboxFailures` gives up.
    public init(workers: Int = ProcessInfo.processInfo.activeProcessorCount, limits: SandboxLimits = .init(),
                maxConsecutiveFailures: Int = 8) throws {
        guard workers >= 1 else { throw SandboxError.invalidLimits("workers must be >= 1 (got \(workers))") }
        try limits.validate()
        failureGuard = try SandboxFailureGuard(limit: maxConsecutiveFailures)
        self.limits = limits
        self.workerCount = workers
        core = PoolCore(limits: limits)
        isolation = try core.start(workers: workers)
    }

    deinit { core.shutdown() }

    /// Runs one snippet in a fresh child of a warm sandbox.
    public func run(_ code: String) async -> SandboxResult {
        await withCheckedContinuation { cont in
            core.submit(code) { cont.resume(returning: $0) }
        }
    }

    /// Runs all snippets concurrently over the pool; results are in the order of `codes`.
    public func run(batch codes: [String]) async -> [SandboxResult] {
        await withTaskGroup(of: (Int, SandboxResult).self) { group in
            for (i, code) in codes.enumerated() {
                group.addTask { (i, await self.run(code)) }
            }
            var results = [SandboxResult](repeating: .failure("not run"), count: codes.count)
            for await (i, r) in group { results[i] = r }
            return results
        }
    }

    /// Like `run(batch:)`, but a result is never a sandbox failure: a snippet whose sandbox failed (not the
    /// snippet's own error) runs again on a fresh worker, so infrastructure noise never reaches a caller that
    /// learns from results. After `failureGuard.limit` sandbox failures in a row it throws
    /// `SandboxError.repeatedFailures` instead.
    public func runRetryingSandboxFailures(batch codes: [String]) async throws -> [SandboxResult] {
        var results = await run(batch: codes)
        try failureGuard.record(results)
        var again = results.indices.filter { results[$0].status == .sandboxFailure }
        while !again.isEmpty {   // each round records at least one failure, so the guard ends the loop
            let retried = await run(batch: again.map { codes[$0] })
            try failureGuard.record(retried)
            for (i, r) in zip(again, retried) { results[i] = r }
            again = again.filter { results[$0].status == .sandboxFailure }
        }
        return results
    }

    /// Blocking variant for synchronous callers (command-line tools). Do not call from an async context.
    public func runBlocking(_ code: String) -> SandboxResult {
        runBlocking(batch: [code])[0]
    }

    /// Blocking batch: all snippets are queued at once and run concurrently; results in order.
    public func runBlocking(batch codes: [String]) -> [SandboxResult] {
        let done = DispatchGroup()
        let lock = NSLock()
        var results = [SandboxResult](repeating: .failure("not run"), count: codes.count)
        for (i, code) in codes.enumerated() {
            done.enter()
            core.submit(code) { r in
                lock.lock(); results[i] = r; lock.unlock()
                done.leave()
            }
        }
        done.wait()
        return results
    }

    /// Stops every sandbox and waits for their processes; queued snippets get `.sandboxFailure`.
    /// Idempotent; also called by deinit.
    public func shutdown() { core.shutdown() }

    /// Number of sandboxes started so far, replacements included (for tests and metrics).
    public var workersStarted: Int { core.workersStarted }
}

/// The shared state of the pool threads: a FIFO of jobs under one condition variable.
private final class PoolCore: @unchecked Sendable {
    struct Job {
        let code: String
        let done: (SandboxResult) -> Void
    }

    let limits: SandboxLimits
    private let cond = NSCondition()
    private var jobs: [Job] = []
    private var jobsHead = 0
    private var closed = false
    private var threadsRunning = 0
    private var startupResults: [Result<SandboxIsolationReport, Error>] = []
    private var started = 0

    init(limits: SandboxLimits) { self.limits = limits }

    var workersStarted: Int { cond.lock(); defer { cond.unlock() }; return started }

    func start(workers: Int) throws -> SandboxIsolationReport {
        cond.lock()
        threadsRunning = workers
        cond.unlock()
        for i in 0..<workers {
            let t = Thread { [self] in workerThread() }
            t.name = "sandbox-worker-\(i)"
            t.start()
        }
        cond.lock()
        while startupResults.count < workers { cond.wait() }
        let results = startupResults
        cond.unlock()
        var report: SandboxIsolationReport?
        for r in results {
            switch r {
            case .failure(let e): shutdown(); throw e
            case .success(let rep): report = report ?? rep
            }
        }
        return report!
    }

    func submit(_ code: String, done: @escaping (SandboxResult) -> Void) {
        cond.lock()
        if closed {
            cond.unlock()
            done(.failure("the pool is shut down"))
            return
        }
        jobs.append(Job(code: code, done: done))
        cond.signal()
        cond.unlock()
    }

    /// Blocks for the next job; nil once the pool is closed.
    private func nextJob() -> Job? {
        cond.lock()
        defer { cond.unlock() }
        while !closed && jobsHead == jobs.count { cond.wait() }
        if closed { return nil }
        let job = jobs[jobsHead]
        jobsHead += 1
        if jobsHead > 1024 && jobsHead * 2 > jobs.count {   // compact the consumed prefix now and then
            jobs.removeFirst(jobsHead)
            jobsHead = 0
        }
        return job
    }

    private func startWorker() throws -> SandboxWorker {
        let w = try SandboxWorker.start(limits: limits)
        cond.lock(); started += 1; cond.unlock()
        return w
    }

    private func workerThread() {
        var worker: SandboxWorker?
        var lastError = "not started"
        do {
            worker = try startWorker()
            cond.lock(); startupResults.append(.success(worker!.report)); cond.broadcast(); cond.unlock()
        } catch {
            cond.lock(); startupResults.append(.failure(error)); cond.broadcast(); cond.unlock()
        }
        while let job = nextJob() {
            let code = Array(job.code.utf8)
            if code.count > limits.maxCodeBytes {   // the snippet's own fault: an error the policy may see
                job.done(SandboxResult(status: .error, stderr: "the snippet was not run: it is \(code.count) bytes, "
                                       + "more than maxCodeBytes = \(limits.maxCodeBytes)\n"))
                continue
            }
            if worker == nil {
                do { worker = try startWorker() } catch { lastError = "\(error)" }
            }
            guard let w = worker else {
                job.done(.failure("could not start a sandbox worker: \(lastError)"))
                continue
            }
            job.done(w.run(code, limits: limits))
            // Replace after the caller has its result, so the ~50 ms start-up is off the critical path.
            if !w.healthy || w.snippetsRun >= limits.snippetsPerWorker {
                w.stop()
                worker = nil
                do { worker = try startWorker() } catch { lastError = "\(error)" }
            }
        }
        worker?.stop()
        cond.lock()
        threadsRunning -= 1
        cond.broadcast()
        cond.unlock()
    }

    func shutdown() {
        cond.lock()
        closed = true
        let pending = jobs[jobsHead...]
        jobs = []; jobsHead = 0
        cond.broadcast()
        while threadsRunning > 0 { cond.wait() }
        cond.unlock()
        for job in pending { job.done(.failure("the pool was shut down before the snippet ran")) }
    }
}
