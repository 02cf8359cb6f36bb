import Foundation
import XCTest
@testable import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// The seccomp filter: the program's decisions (run by a small classic-BPF interpreter here), its numbers
/// against the kernel headers, and the refused calls from inside a real sandbox.
final class SeccompTests: XCTestCase {
    static let allow: UInt32 = 0x7FFF_0000, kill: UInt32 = 0x8000_0000
    static func fail(_ e: Int32) -> UInt32 { 0x0005_0000 | UInt32(e) }

    /// Runs a classic BPF program on one seccomp_data (nr, arch, args[0]); returns the seccomp action.
    func evaluate(_ program: [SeccompFilter.Instruction], nr: UInt32, arch: UInt32, arg0: UInt64 = 0,
                  file: StaticString = #filePath, line: UInt = #line) -> UInt32 {
        var data = [UInt8](repeating: 0, count: 64)
        func put(_ v: UInt64, _ at: Int, _ bytes: Int) { for i in 0..<bytes { data[at + i] = UInt8(v >> (8 * i) & 0xFF) } }
        put(UInt64(nr), 0, 4); put(UInt64(arch), 4, 4); put(arg0, 16, 8)
        var a: UInt32 = 0, pc = 0
        while pc < program.count {
            let i = program[pc]
            switch i.code {
            case 0x20:   // ld [k]
                let k = Int(i.k)
                a = UInt32(data[k]) | UInt32(data[k + 1]) << 8 | UInt32(data[k + 2]) << 16 | UInt32(data[k + 3]) << 24
                pc += 1
            case 0x15: pc += 1 + Int(a == i.k ? i.jt : i.jf)
            case 0x35: pc += 1 + Int(a >= i.k ? i.jt : i.jf)
            case 0x45: pc += 1 + Int(a & i.k != 0 ? i.jt : i.jf)
            case 0x06: return i.k
            default: XCTFail("unexpected opcode \(i.code) at \(pc)", file: file, line: line); return 0
            }
        }
        XCTFail("the program runs off its end", file: file, line: line)
        return 0
    }

    func testProgramRefusesExactlyTheDeniedCalls() throws {
        try XCTSkipUnless(SeccompFilter.isSupported, "no syscall table for this architecture")
        let program = SeccompFilter.program()
        XCTAssertLessThan(program.count, 4096, "the kernel's BPF_MAXINSNS")
        var expected: [UInt32: UInt32] = [:]
        for family in SeccompFilter.denied {
            for call in family.calls { expected[SyscallNumbers.byName[call]!] = Self.fail(family.errno) }
        }
        XCTAssertEqual(expected[SyscallNumbers.byName["io_uring_setup"]!], Self.fail(ENOSYS))
        XCTAssertEqual(expected[SyscallNumbers.byName["bpf"]!], Self.fail(EPERM))
        let arch = SyscallNumbers.auditArch, clone = SyscallNumbers.byName["clone"]!
        for nr in UInt32(0)..<600 where nr != clone {
            XCTAssertEqual(evaluate(program, nr: nr, arch: arch), expected[nr] ?? Self.allow, "call \(nr)")
        }
        // clone: a fork or a thread passes; any namespace flag is refused like unshare.
        let sigchld: UInt64 = 17
        XCTAssertEqual(evaluate(program, nr: clone, arch: arch, arg0: sigchld), Self.allow)
        XCTAssertEqual(evaluate(program, nr: clone, arch: arch, arg0: 0x003D_0F00), Self.allow)   // pthread flags
        for flag: UInt64 in [0x20000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000] {
            XCTAssertEqual(evaluate(program, nr: clone, arch: arch, arg0: flag | sigchld), Self.fail(EPERM), "flag \(flag)")
        }
        // Another ABI's numbers mean other calls: kill, whatever the number.
        for other: UInt32 in [0x4000_0003 /* i386 */, 0x4000_0028 /* arm */, 0] {
            XCTAssertEqual(evaluate(program, nr: 20, arch: other), Self.kill)
        }
        if let x32 = SyscallNumbers.x32Bit {
            XCTAssertEqual(evaluate(program, nr: x32 | 39, arch: arch), Self.fail(EPERM), "x32 getpid")
            XCTAssertEqual(evaluate(program, nr: 0xFFFF_FFFF, arch: arch), Self.fail(EPERM))
        }
        // The bytes bwrap reads: 8 per instruction, code / jt / jf / k little-endian.
        let bytes = SeccompFilter.bytes(program)
        XCTAssertEqual(bytes.count, 8 * program.count)
        XCTAssertEqual(Array(bytes[0..<8]), [0x20, 0, 0, 0, 4, 0, 0, 0], "ld [4]: the architecture")
    }

    /// Independent numbers: the kernel's own header (linux-libc-dev), when it is installed.
    func testNumbersMatchTheKernelHeaders() throws {
        #if arch(x86_64)
        let path = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
        #else
        let path = "/usr/include/asm-generic/unistd.h"
        #endif
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw XCTSkip("\(path) is not installed (apt-get install linux-libc-dev)")
        }
        var header: [String: UInt32] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if f.count == 3, f[0] == "#define", f[1].hasPrefix("__NR_"), let n = UInt32(f[2]) {
                header[String(f[1].dropFirst(5))] = n
            }
        }
        XCTAssertFalse(SyscallNumbers.byName.isEmpty)
        for (name, nr) in SyscallNumbers.byName {
            XCTAssertEqual(header[name], nr, name)
        }
    }

    /// Each refused call from a snippet, with arguments chosen so that, where the kernel's own checks would
    /// answer with another errno first (EFAULT, EINVAL, EBADF, ESRCH, success), the filter's errno proves the
    /// filter answered. The rest fail with EPERM unfiltered too; the program test above covers them.
    func testDeniedCallsFailWithTheirErrnoInTheSandbox() throws {
        try XCTSkipUnless(SeccompFilter.isSupported, "no syscall table for this architecture")
        let calls: [(String, [Int64])] = [
            ("io_uring_setup", [0, 0]), ("io_uring_enter", [-1, 0, 0, 0, 0, 0]), ("io_uring_register", [-1, 0, 0, 0]),
            ("keyctl", [0xFFFF, 0, 0, 0, 0]), ("add_key", [0, 0, 0, 0, 0]), ("request_key", [0, 0, 0, 0]),
            ("perf_event_open", [0, 0, -1, -1, 0]), ("bpf", [0xFFFF, 0, 0]), ("userfaultfd", [1 | 2]),
            ("ptrace", [0xFFFF, 0, 0, 0]), ("process_vm_readv", [0, 0, 0, 0, 0, 1]),
            ("process_vm_writev", [0, 0, 0, 0, 0, 1]), ("kcmp", [0, 0, 0xFFFF, 0, 0]), ("pidfd_getfd", [-1, 0, 0]),
            ("process_madvise", [-1, 0, 0, 0, 0]),
            ("mount", [0, 0, 0, 0, 0]), ("umount2", [0, 0xFFFF_0000]), ("pivot_root", [0, 0]), ("fsopen", [0, 0]),
            ("fsconfig", [-1, 0xFFFF, 0, 0, 0]), ("fsmount", [-1, 0xFFFF, 0]), ("fspick", [-1, 0, 0xFFFF]),
            ("move_mount", [-1, 0, -1, 0, 0xFFFF_FFFF]), ("open_tree", [-1, 0, 0xFFFF_FFFF]),
            ("mount_setattr", [-1, 0, 0xFFFF_FFFF, 0, 0]),
            ("unshare", [0]), ("setns", [-1, 0]), ("clone3", [0, 0]), ("clone", [0x1000_0000 | 17, 0, 0, 0, 0]),
            ("kexec_load", [0, 0, 0, 0]), ("kexec_file_load", [-1, -1, 0, 0, 0xFFFF]),
            ("init_module", [0, 0, 0]), ("finit_module", [-1, 0, 0]), ("delete_module", [0, 0]),
            ("open_by_handle_at", [-1, 0, 0]), ("name_to_handle_at", [-1, 0, 0, 0, 0xFFFF]),
            ("fanotify_init", [0xFFFF_FFFF, 0]), ("swapon", [0, 0]), ("swapoff", [0]), ("reboot", [0, 0, 0, 0]),
        ]
        var expected: [String: Int32] = ["clone": EPERM]
        for family in SeccompFilter.denied { for call in family.calls { expected[call] = family.errno } }
        XCTAssertEqual(Set(calls.map(\.0)), Set(expected.keys), "every refused call is tried")
        let table = calls.map { "(\"\($0.0)\", \(SyscallNumbers.byName[$0.0]!), \($0.1))" }.joined(separator: ", ")
        let r = run("""
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            for name, nr, args in [\(table)]:
                ctypes.set_errno(0)
                rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
                print(name, rc, ctypes.get_errno())
            st = dict(l.split(':\\t') for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)
            print('seccomp', st['Seccomp'], int(st['Seccomp_filters']) >= 1)
            """)
        XCTAssertEqual(r.status, .ok, r.stderr)
        var seen: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            let f = line.split(separator: " ", maxSplits: 1)
            seen[String(f[0])] = f.count > 1 ? String(f[1]) : ""
        }
        for (name, _) in calls {
            XCTAssertEqual(seen[name], "-1 \(expected[name]!)", "\(name): got rc errno \(seen[name] ?? "nothing")")
        }
        XCTAssertEqual(seen["seccomp"], "2 True")
        assertPoolHealthy()
    }

    /// The x86 escape hatches: 32-bit `int 0x80` calls are judged by another table, x32 numbers carry a bit.
    func testOtherABIsAreRefused() throws {
        #if arch(x86_64)
        let r = run("""
            import ctypes, mmap
            libc = ctypes.CDLL(None, use_errno=True)
            rc = libc.syscall(ctypes.c_long(0x40000000 | 39))    # x32 getpid
            print('x32', rc, ctypes.get_errno(), flush=True)
            code = bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3])  # mov eax, 20 (i386 getpid); int 0x80; ret
            buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
            buf.write(code)
            f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))
            print('i386', f())
            """)
        XCTAssertEqual(r.stdout, "x32 -1 \(EPERM)\n", r.stderr)
        XCTAssertEqual(r.status, .signaled)
        XCTAssertEqual(r.signal, SIGSYS, "an i386 system call kills the snippet")
        assertPoolHealthy()
        #else
        throw XCTSkip("x86-only ABIs")
        #endif
    }

    /// What the filter must not break: threads and posix_spawn (glibc tries clone3 first), fork, numpy.
    func testOrdinarySnippetsStillWork() {
        let r = run("""
            import os, subprocess, threading
            out = []
            t = threading.Thread(target=lambda: out.append(6 * 7)); t.start(); t.join()
            p = subprocess.run(['/usr/bin/echo', 'spawned'], capture_output=True, text=True)
            pid = os.fork()
            if pid == 0:
                os._exit(3)
            _, st = os.waitpid(pid, 0)
            try:
                import numpy
                dot = int(numpy.arange(4) @ numpy.arange(4))
            except ImportError:
                dot = 14
            print(out[0], p.stdout.strip(), os.WEXITSTATUS(st), dot)
            """)
        XCTAssertEqual(r.status, .ok, r.stderr)
        XCTAssertEqual(r.stdout, "42 spawned 3 14\n")
        assertPoolHealthy()
    }
}
