import Foundation
import XCTest
import Training

/// Two hosts on one machine, as a user with two machines has them: two network namespaces joined by a veth pair,
/// each with its own address (10.231.0.1 and .2) and host name. mpirun runs in host A with a hostfile of the
/// two addresses and starts host B's daemon through an rsh agent that enters B's namespace (as ssh would log in);
/// Open MPI's TCP transport is restricted to the hosts' link. Needs root and iproute2 (CI has both).
final class TwoHosts {
    let dir: URL
    let names: [String]
    static let addresses = ["10.231.0.1", "10.231.0.2"]

    /// `blind`: host B mounts an empty tmpfs over this directory (it cannot see what host A writes there).
    init(dir: URL, blind: URL? = nil) throws {
        guard getuid() == 0, let ip = Self.ipPath else { throw XCTSkip("two hosts need root and iproute2 (ip netns)") }
        self.dir = dir
        let tag = String(getpid() % 100_000)
        names = ["tir\(tag)a", "tir\(tag)b"]
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        do { try Self.ip(["netns", "add", names[0]]) } catch { throw XCTSkip("cannot make a network namespace here (\(ip) netns add): \(error)") }
        do {
            try Self.ip(["netns", "add", names[1]])
            try Self.ip(["link", "add", names[0] + "0", "type", "veth", "peer", "name", names[1] + "0"])
            for (k, n) in names.enumerated() {
                try Self.ip(["link", "set", n + "0", "netns", n])
                try Self.ip(["-n", n, "addr", "add", Self.addresses[k] + "/24", "dev", n + "0"])
                try Self.ip(["-n", n, "link", "set", n + "0", "up"])
                try Self.ip(["-n", n, "link", "set", "lo", "up"])
            }
        } catch {
            remove()
            try? Self.ip(["link", "del", names[0] + "0"])   // still in the root namespace if it never moved
            throw error
        }
        let hide = blind.map { ("--mount --propagation private ", "mount -t tmpfs tmpfs \($0.path); ") } ?? ("", "")
        let agent = """
        #!/bin/sh
        # mpirun's rsh agent: "agent HOST COMMAND..." runs COMMAND in HOST's namespace under HOST's name.
        host=$1; shift
        case "$host" in
          \(Self.addresses[0])) exec ip netns exec \(names[0]) unshare --uts sh -c "hostname host-a; $*" ;;
          \(Self.addresses[1])) exec ip netns exec \(names[1]) unshare --uts \(hide.0)sh -c "\(hide.1)hostname host-b; $*" ;;
        esac
        echo "agent: unknown host $host" >&2; exit 1
        """
        try Data(agent.utf8).write(to: agentURL)
        chmod(agentURL.path, 0o755)
        try Data(Self.addresses.map { "\($0) slots=1\n" }.joined().utf8).write(to: dir.appendingPathComponent("hostfile"))
    }

    var agentURL: URL { dir.appendingPathComponent("agent.sh") }

    /// Runs `tir args` as 2 ranks, one per host, to its end (at most `timeout` seconds: a hung job is
    /// terminated and fails the test); returns its output.
    func run(_ tir: URL, _ args: [String], expectSuccess: Bool = true, timeout: Double = 300,
             whileRunning: ((Process) throws -> Void)? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let mpirun = "/usr/bin/mpirun"
        guard FileManager.default.isExecutableFile(atPath: mpirun) else { throw XCTSkip("mpirun not found: scripts/setup.sh installs openmpi-bin") }
        return try runProcess(URL(fileURLWithPath: Self.ipPath!),
            ["netns", "exec", names[0], "unshare", "--uts", "sh", "-c", "hostname host-a; exec \"$@\"", "sh",
             mpirun, "--allow-run-as-root", "--hostfile", dir.appendingPathComponent("hostfile").path,
             "--mca", "plm_rsh_agent", agentURL.path, "--mca", "btl", "tcp,self",
             "--mca", "btl_tcp_if_include", "10.231.0.0/24", "--mca", "oob_tcp_if_include", "10.231.0.0/24",
             "-np", "2", "--map-by", "node", tir.path] + args,
            expectSuccess: expectSuccess, timeout: timeout, whileRunning: whileRunning, file: file, line: line)
    }

    /// Removes both namespaces (and with them the veth pair).
    func remove() {
        for n in names { try? Self.ip(["netns", "del", n]) }
    }

    /// What is left of the hosts: namespaces, and processes that name `root` (host B's private mount lives
    /// only as long as its processes).
    static func leftovers(names: [String], root: URL) -> [String] {
        var left: [String] = []
        let netns = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        left += names.filter(netns.contains).map { "namespace \($0)" }
        let fm = FileManager.default
        for pid in (try? fm.contentsOfDirectory(atPath: "/proc")) ?? [] where pid.allSatisfy(\.isNumber) && Int32(pid) != getpid() {
            if let cmd = fm.contents(atPath: "/proc/\(pid)/cmdline"), String(decoding: cmd, as: UTF8.self).contains(root.path) {
                left.append("process \(pid)")
            }
        }
        return left
    }

    static let ipPath = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func ip(_ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ipPath!)
        p.arguments = args
        let pipe = Pipe()
        p.standardError = pipe
        try p.run()
        let err = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        struct Failed: Error, CustomStringConvertible { var description: String }
        guard p.terminationStatus == 0 else { throw Failed(description: "ip \(args.joined(separator: " ")) failed: \(err)") }
    }
}

/// `mpirun --hostfile` across two hosts: data-parallel `tir train` equals one process, a killed rank on host B
/// ends the job and `--resume` finishes it, a distributed sweep equals one process, a host that cannot see the
/// output directory stops the sweep with a message naming it, and nothing is left behind.
final class MultiHostTests: XCTestCase {
    let fm = FileManager.default

    func trainArgs(base: URL, out: URL, steps: Int) -> [String] {
        ["train", "--checkpoint", base.path, "--out", out.path,
         "--set", "steps=\(steps)", "--set", "promptsPerStep=2", "--set", "groupSize=4", "--set", "miniBatches=2",
         "--set", "microBatch=2", "--set", "rollout.maxToolCalls=1", "--set", "rollout.maxTurnTokens=24",
         "--set", "rollout.maxTrajectoryTokens=64", "--set", "optimizer.lr=1e-2", "--set", "checkpointEvery=1",
         "--set", "keepCheckpoints=3", "--set", "sandbox.workers=1", "--set", "kl.beta=0.1"]
    }

    func sweepArgs(base: URL, out: URL) -> [String] {
        ["experiment", "instability", "--sweep", "--quick", "--conditions", "baseline", "--steps", "2",
         "--base", base.path, "--out", out.path, "--set", "promptsPerStep=2", "--set", "groupSize=2", "--set", "miniBatches=1",
         "--set", "microBatch=4", "--set", "rollout.maxTurnTokens=24", "--set", "rollout.maxTrajectoryTokens=64",
         "--set", "sandbox.workers=1"]
    }

    func testTrainAndSweepAcrossTwoHosts() throws {
        let tir = try XCTUnwrap(builtTir(), "build tir first: swift build --build-tests")
        let root = fm.temporaryDirectory.appendingPathComponent("tir-hosts-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        let base = root.appendingPathComponent("base")
        try makeTinyBase(base)
        let hosts = try TwoHosts(dir: root.appendingPathComponent("hosts"))
        var names = hosts.names
        defer { hosts.remove() }

        // Data-parallel training across the hosts equals one process.
        let one = root.appendingPathComponent("train-one"), two = root.appendingPathComponent("train-two")
        _ = try runTir(tir, ranks: 1, trainArgs(base: base, out: one, steps: 3))
        let log = try hosts.run(tir, trainArgs(base: base, out: two, steps: 3))
        XCTAssertTrue(log.contains("data parallel: rank 1 of 2"), log)
        try assertSameRun(one, two)

        // Killing host B's rank ends the job; the same command with --resume finishes the run.
        let killed = root.appendingPathComponent("train-killed")
        let out = try hosts.run(tir, trainArgs(base: base, out: killed, steps: 12), expectSuccess: false) { _ in
            let deadline = Date().addingTimeInterval(60)
            while !self.fm.fileExists(atPath: killed.appendingPathComponent(RunDirectory.pointerName).path), Date() < deadline { usleep(20_000) }
            guard let pid = rankPid(1, of: tir) else { return XCTFail("rank 1 not found") }
            kill(pid, SIGKILL)
        }
        XCTAssertLessThan(try untimedMetrics(killed).count, 12, "the job went on after a rank died: \(out)")
        _ = try hosts.run(tir, trainArgs(base: base, out: killed, steps: 12) + ["--resume"])
        XCTAssertEqual(try untimedMetrics(killed).map { $0["step"] ?? 0 }, (1...12).map(Double.init))

        // A distributed sweep across the hosts: the same runs as one process.
        let sweepOne = root.appendingPathComponent("sweep-one"), sweepTwo = root.appendingPathComponent("sweep-two")
        _ = try runTir(tir, ranks: 1, sweepArgs(base: base, out: sweepOne))
        let sweepLog = try hosts.run(tir, sweepArgs(base: base, out: sweepTwo))
        XCTAssertTrue(sweepLog.contains("rank 1 of 2: did"), sweepLog)
        let arms = sweepOne.appendingPathComponent("conditions/baseline/arms")
        for arm in try fm.contentsOfDirectory(atPath: arms.path) {
            let run = "conditions/baseline/arms/\(arm)/seed-1"
            XCTAssertEqual(try untimedMetrics(sweepOne.appendingPathComponent(run)), try untimedMetrics(sweepTwo.appendingPathComponent(run)), run)
        }
        hosts.remove()

        // Host B cannot see the output directory (a private mount over it): the sweep stops and names it.
        let hidden = root.appendingPathComponent("sweep-hidden")
        try fm.createDirectory(at: hidden, withIntermediateDirectories: true)
        let blind = try TwoHosts(dir: root.appendingPathComponent("hosts-blind"), blind: hidden)
        names += blind.names
        defer { blind.remove() }
        let refused = try blind.run(tir, sweepArgs(base: base, out: hidden), expectSuccess: false)
        XCTAssertTrue(refused.contains("\(hidden.path) must be one directory every rank sees"), refused)
        XCTAssertTrue(refused.contains("host-b"), "the message names the host: \(refused)")
        blind.remove()
        XCTAssertEqual(TwoHosts.leftovers(names: names, root: root), [])
    }
}
