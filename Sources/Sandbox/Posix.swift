import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Thin, explicit wrappers over the few system calls the pool needs. No fork() in Swift: posix_spawn only.
enum Posix {
    struct Failure: Error, CustomStringConvertible {
        let what: String
        let code: Int32
        var description: String { "\(what): \(String(cString: strerror(code)))" }
    }

    /// Spawns `argv[0]` with the given fds as its 0/1/2, `inherit` as its 3, 4, ..., every other fd closed,
    /// default signal dispositions, an empty signal mask, cwd "/" and exactly `env` as environment.
    static func spawn(_ argv: [String], env: [String], stdin: Int32, stdout: Int32, stderr: Int32,
                      inherit: [Int32] = []) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        // Copies above the target numbers first: dup2 onto a number that is still a source would clobber it,
        // and dup2(fd, fd) would keep its close-on-exec flag.
        let firstFree = 3 + Int32(inherit.count)
        var copies: [Int32] = []
        defer { copies.forEach { close($0) } }
        for fd in inherit {
            let copy = fcntl(fd, F_DUPFD_CLOEXEC, firstFree)
            if copy < 0 { throw Failure(what: "fcntl(F_DUPFD_CLOEXEC)", code: errno) }
            copies.append(copy)
        }
        for (i, copy) in copies.enumerated() { posix_spawn_file_actions_adddup2(&actions, copy, 3 + Int32(i)) }
        // Belt and braces against fds opened elsewhere in the process without O_CLOEXEC (glibc >= 2.34).
        if let closeFrom = glibcCloseFrom { _ = closeFrom(&actions, firstFree) }
        if let chdir = glibcAddChdir { _ = chdir(&actions, "/") }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var noSignals = sigset_t(); sigemptyset(&noSignals)
        var allSignals = sigset_t(); sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attr, &noSignals)
        posix_spawnattr_setsigdefault(&attr, &allSignals)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        defer { cArgv.forEach { free($0) }; cEnv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgv, cEnv)
        if rc != 0 { throw Failure(what: "posix_spawn \(argv[0])", code: rc) }
        return pid
    }

    /// A connected AF_UNIX stream pair, both ends close-on-exec.
    static func socketPair() throws -> (Int32, Int32) {
        var sv: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if socketpair(AF_UNIX, type, 0, &sv) != 0 { throw Failure(what: "socketpair", code: errno) }
        return (sv[0], sv[1])
    }

    // GNU extensions that Swift's Glibc module does not import (it is built without _GNU_SOURCE).
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>,
                                                 UnsafePointer<CChar>) -> Int32
    private static let glibcCloseFrom: CloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: CloseFrom.self) }
    private static let glibcAddChdir: AddChdir? = dlsym(nil, "posix_spawn_file_actions_addchdir_np")
        .map { unsafeBitCast($0, to: AddChdir.self) }

    /// Writes everything or throws; MSG_NOSIGNAL so a dead peer is an error, not a SIGPIPE for the trainer.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(what: "send to sandbox worker", code: errno)
            }
            sent += n
        }
    }

    enum ReadError: Error { case timedOut, closed, failed(Int32) }

    /// Reads exactly `count` bytes before `deadline` (monotonic seconds, see `now()`).
    static func readExact(_ fd: Int32, _ count: Int, deadline: Double) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let left = deadline - now()
            if left <= 0 { throw ReadError.timedOut }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(left * 1000 + 1, 1e9)))
            if ready < 0 {
                if errno == EINTR { continue }
                throw ReadError.failed(errno)
            }
            if ready == 0 { continue }
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
            if n == 0 { throw ReadError.closed }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw ReadError.failed(errno)
            }
            got += n
        }
        return buf
    }

    /// Whatever is readable right now (up to `limit` bytes), without blocking.
    static func readAvailable(_ fd: Int32, limit: Int = 4096) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while out.count < limit {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 0) <= 0 { break }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 1024) }
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// Waits up to `seconds` for `pid` to exit, then SIGKILLs and reaps it. Never leaves a zombie.
    static func reap(_ pid: pid_t, grace seconds: Double) {
        let deadline = now() + seconds
        var status: Int32 = 0
        while now() < deadline {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno != EINTR) { return }
            usleep(2000)
        }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// Monotonic seconds.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
