import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One bubblewrap sandbox running the Python fork-server (fork_server.py), and the Swift end of its
/// socket. Used by exactly one pool thread at a time; not thread-safe by itself.
final class SandboxWorker {
    let pid: pid_t               // setpriv/bwrap outside the sandbox; killing it tears the namespace down
    let fd: Int32                // our end of the socket; the server has the other end as fd 0 and 1
    let report: SandboxIsolationReport
    private(set) var snippetsRun = 0
    /// False after any protocol failure, timeout or a dirty report: the pool replaces the worker.
    private(set) var healthy = true

    static let bwrapPath = "/usr/bin/bwrap"
    static let setprivPath = "/usr/bin/setpriv"
    static let sandboxUid = 65534   // "nobody": RLIMIT_NPROC binds, nothing on the host belongs to it

    /// The isolation in force, in words (for reports and `tir bench sandbox`).
    static let isolationMeasures: [String] = [
        "bubblewrap: new user, PID, network, IPC, UTS, cgroup and mount namespaces (--unshare-all)",
        "no network: only a loopback interface of its own",
        "runs as uid/gid 65534 inside and outside the user namespace (setpriv when the trainer is root)",
        "no capabilities (--cap-drop ALL), no nested user namespaces (--disable-userns)",
        "seccomp filter: io_uring, keyrings, perf_event_open, bpf, userfaultfd, ptrace and process_vm_*, mount "
            + "and the new mount API, unshare/setns/namespace clones, kexec, modules, file handles, fanotify, "
            + "swap and reboot fail with EPERM/ENOSYS; other ABIs (i386, x32) are refused",
        "cleared environment with an allow-list; HOME and TMPDIR point at the snippet's private dir",
        "file system: read-only /usr (+ /bin, /lib, /lib64, /sbin links), own /proc, minimal read-only /dev, "
            + "size-capped tmpfs /tmp and /dev/shm, read-only empty root; no /etc, /home, /root or trainer files",
        "fork-server is PID 1 of the namespace: snippets cannot signal it; non-dumpable: no ptrace or /proc/1/fd",
        "fresh forked child per snippet in its own session/process group, stdin = /dev/null",
        "per-child rlimits: AS, CPU, FSIZE, NOFILE, NPROC, CORE=0; NPROC x AS + tmpfs sizes <= totalMemoryBytes "
            + "caps the memory of a snippet with all its children",
        "wall-clock kill: kill(-1, SIGKILL) from PID 1 ends every process in the namespace, setsid daemons included",
        "after each snippet: all processes reaped, /tmp and /dev/shm wiped, SysV IPC removed",
        "output capped to head + marker + tail inside the sandbox; total output beyond a limit kills the snippet",
        "--die-with-parent and --new-session; no fds leak in (O_CLOEXEC + closefrom)",
        "a worker that died, timed out, misbehaved or ran N snippets is replaced",
    ]

    /// Starts a sandbox and waits for the server's hello; throws `.isolationUnavailable` with bwrap's own
    /// message if the sandbox cannot be set up or does not look isolated.
    static func start(limits: SandboxLimits, startupTimeout: Double = 15) throws -> SandboxWorker {
        let fm = FileManager.default
        guard fm.isExecutableFile(atPath: bwrapPath) else {
            throw SandboxError.isolationUnavailable("\(bwrapPath) not found")
        }
        guard fm.isExecutableFile(atPath: limits.pythonPath) else {
            throw SandboxError.isolationUnavailable("\(limits.pythonPath) not found")
        }
        let asRoot = geteuid() == 0
        if asRoot && !fm.isExecutableFile(atPath: setprivPath) {
            throw SandboxError.isolationUnavailable("\(setprivPath) (util-linux) is needed to drop root before bwrap")
        }
        guard SeccompFilter.isSupported else {
            throw SandboxError.isolationUnavailable("no seccomp syscall table for this CPU architecture "
                                                    + "(x86_64 and arm64 have one)")
        }
        let argv = (asRoot ? [setprivPath, "--reuid=\(sandboxUid)", "--regid=\(sandboxUid)", "--clear-groups"] : [])
            + bwrapArguments(limits) + [limits.pythonPath, "-I", "-c", forkServerSource, try serverConfig(limits)]

        let (mine, theirs) = try Posix.socketPair()
        let (errRead, errWrite) = try Posix.socketPair()   // bwrap's start-up errors
        let pid: pid_t
        do {
            let filter = try SeccompFilter.descriptor()
            defer { close(filter) }
            pid = try Posix.spawn(argv, env: ["PATH=/usr/bin:/bin"], stdin: theirs, stdout: theirs, stderr: errWrite,
                                  inherit: [filter])
        } catch {
            [mine, theirs, errRead, errWrite].forEach { close($0) }
            throw SandboxError.isolationUnavailable("\(error)")
        }
        close(theirs); close(errWrite)
        defer { close(errRead) }

        func fail(_ why: String) -> SandboxError {
            shutdown(mine, Int32(SHUT_RDWR))
            Posix.reap(pid, grace: 0.5)
            let said = String(decoding: Posix.readAvailable(errRead), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            close(mine)
            return SandboxError.isolationUnavailable(why + (said.isEmpty ? "" : "; it said: \(said)"))
        }
        let report: SandboxIsolationReport
        do {
            let deadline = Posix.now() + startupTimeout
            let head = try Posix.readExact(mine, 8, deadline: deadline)
            guard head[0..<4].elementsEqual("TIRH".utf8) else { throw fail("unexpected hello from the sandbox") }
            let n = Int(readU32(head, 4))
            guard n < 1 << 20 else { throw fail("oversized hello from the sandbox") }
            report = try JSONDecoder().decode(SandboxIsolationReport.self,
                                              from: Data(try Posix.readExact(mine, n, deadline: deadline)))
        } catch let e as SandboxError {
            throw e
        } catch {
            throw fail("the bubblewrap sandbox did not start (\(error))")
        }
        // Verify, do not trust: the server describes the sandbox it actually got.
        var problems: [String] = []
        if report.uid == 0 || report.gid == 0 { problems.append("runs as root (uid \(report.uid))") }
        if report.pid != 1 { problems.append("not PID 1 of its own PID namespace (pid \(report.pid))") }
        if report.caps.contains(where: { $0.contains(where: { $0 != "0" }) }) {
            problems.append("has capabilities \(report.caps)")
        }
        if report.net.contains(where: { $0 != "lo" }) { problems.append("sees network interfaces \(report.net)") }
        if report.seccomp != 2 { problems.append("no seccomp filter in force (Seccomp: \(report.seccomp))") }
        if !problems.isEmpty { throw fail("isolation check failed: " + problems.joined(separator: ", ")) }
        return SandboxWorker(pid: pid, fd: mine, report: report)
    }

    private init(pid: pid_t, fd: Int32, report: SandboxIsolationReport) {
        self.pid = pid; self.fd = fd; self.report = report
    }

    /// bwrap options; the fork-server command follows them. The seccomp program must be readable on fd 3.
    static func bwrapArguments(_ limits: SandboxLimits) -> [String] {
        var a = [bwrapPath, "--seccomp", "3",
                 "--unshare-all", "--unshare-user", "--disable-userns",
                 "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                 "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
                 "--uid", "\(sandboxUid)", "--gid", "\(sandboxUid)",
                 "--as-pid-1",
                 "--ro-bind", "/usr", "/usr"]
        // /bin, /lib, ... are symlinks into /usr on merged-/usr systems, real directories elsewhere.
        for dir in ["/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: dir) {
                a += ["--symlink", target, dir]
            } else {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue {
                    a += ["--ro-bind", dir, dir]
                }
            }
        }
        a += ["--proc", "/proc",
              "--dev", "/dev",
              "--size", "\(limits.tmpfsBytes)", "--tmpfs", "/dev/shm",
              "--remount-ro", "/dev",
              "--size", "\(limits.tmpfsBytes)", "--tmpfs", "/tmp",
              "--remount-ro", "/",
              "--chdir", "/tmp"]
        return a
    }

    /// JSON the fork-server reads from argv[1].
    static func serverConfig(_ l: SandboxLimits) throws -> String {
        let cfg: [String: Any] = [
            "timeout": l.timeout, "cpuSeconds": l.cpuSeconds, "memoryBytes": l.memoryBytes,
            "maxProcesses": l.maxProcesses, "maxFileBytes": l.maxFileBytes, "maxOpenFiles": l.maxOpenFiles,
            "outputCap": l.outputCapBytes, "outputKill": l.outputKillBytes,
            "preload": l.preloadModules, "env": l.environment,
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: cfg, options: [.sortedKeys]), as: UTF8.self)
    }

    /// Runs one snippet. Never throws: every failure of the sandbox becomes a `.sandboxFailure` result and
    /// marks the worker unhealthy.
    func run(_ code: [UInt8], limits: SandboxLimits) -> SandboxResult {
        precondition(healthy, "run on an unhealthy worker")
        snippetsRun += 1
        var request = Array("TIRQ".utf8)
        appendU32(&request, UInt32(code.count))
        request += code
        // The server enforces the wall clock; this deadline only catches a server that hangs or died.
        let deadline = Posix.now() + limits.timeout + 5
        do {
            try Posix.sendAll(fd, request)
            let h = try Posix.readExact(fd, 34, deadline: deadline)
            guard h[0..<4].elementsEqual("TIRR".utf8) else { return broken("bad response header") }
            let kind = h[4], flags = h[5]
            let code = Int32(bitPattern: readU32(h, 6))
            let wall = Double(bitPattern: readU64(h, 10)), cpu = Double(bitPattern: readU64(h, 18))
            let nOut = Int(readU32(h, 26)), nErr = Int(readU32(h, 30))
            let maxStream = limits.outputCapBytes + 64
            guard nOut <= maxStream, nErr <= maxStream else { return broken("oversized response") }
            let out = try Posix.readExact(fd, nOut, deadline: deadline)
            let err = try Posix.readExact(fd, nErr, deadline: deadline)
            if flags & 4 != 0 { healthy = false }   // could not wipe its temp dirs: do not reuse
            var r = SandboxResult(status: .ok, stdout: String(decoding: out, as: UTF8.self),
                                  stderr: String(decoding: err, as: UTF8.self),
                                  stdoutTruncated: flags & 1 != 0, stderrTruncated: flags & 2 != 0,
                                  wallSeconds: wall, cpuSeconds: cpu)
            switch kind {
            case 0: r.status = code == 0 ? .ok : .error; r.exitCode = code
            case 1: r.status = .signaled; r.signal = code
            case 2: r.status = .timeout; r.signal = code
            case 3: r.status = .outputLimit; r.signal = code
            case 4: r.status = .timeout; r.signal = code
            case 5: r.status = .memoryLimit; r.exitCode = code
            case 6: return broken(r.stderr)
            default: return broken("unknown result kind \(kind)")
            }
            return r
        } catch Posix.ReadError.timedOut {
            return broken("the worker did not answer within timeout + 5 s")
        } catch Posix.ReadError.closed {
            return broken("the worker died while running the snippet")
        } catch {
            return broken("\(error)")
        }
    }

    private func broken(_ why: String) -> SandboxResult {
        healthy = false
        return .failure(why)
    }

    /// Closes the socket (the server exits on EOF; the kernel then kills the namespace) and reaps bwrap.
    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        Posix.reap(pid, grace: healthy ? 1 : 0)
    }
}

private func readU32(_ b: [UInt8], _ at: Int) -> UInt32 {
    UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
}

private func readU64(_ b: [UInt8], _ at: Int) -> UInt64 {
    UInt64(readU32(b, at)) | UInt64(readU32(b, at + 4)) << 32
}

private func appendU32(_ b: inout [UInt8], _ v: UInt32) {
    b += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
}
