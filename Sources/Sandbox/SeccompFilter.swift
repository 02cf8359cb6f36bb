import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The seccomp filter bwrap installs (`--seccomp FD`) just before it starts the fork-server, so it binds the
/// server and every snippet. It refuses the system calls that open kernel attack surface no snippet needs.
/// A refused call fails with EPERM (ENOSYS where libc falls back to another call), so Python raises an
/// ordinary OSError; only a call from another architecture's ABI kills the process.
///
/// Built here as a classic BPF program (no libseccomp, nothing to compile or install): check the
/// architecture, load the call number, compare it with each refused number in turn, else allow.
enum SeccompFilter {
    /// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
    struct Instruction: Equatable {
        var code: UInt16
        var jt: UInt8
        var jf: UInt8
        var k: UInt32
    }

    /// The refused calls, by family, and the errno they fail with.
    static let denied: [(family: String, calls: [String], errno: Int32)] = [
        ("io_uring", ["io_uring_setup", "io_uring_enter", "io_uring_register"], ENOSYS),
        ("kernel keyrings", ["keyctl", "add_key", "request_key"], EPERM),
        ("perf events", ["perf_event_open"], EPERM),
        ("eBPF", ["bpf"], EPERM),
        ("userfaultfd", ["userfaultfd"], EPERM),
        ("other processes", ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
                             "process_madvise"], EPERM),
        ("mounts", ["mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
                    "open_tree", "mount_setattr"], EPERM),
        ("namespaces", ["unshare", "setns"], EPERM),
        // clone3 passes its flags in memory a filter cannot read; glibc falls back to clone on ENOSYS.
        ("clone3", ["clone3"], ENOSYS),
        ("kexec", ["kexec_load", "kexec_file_load"], EPERM),
        ("kernel modules", ["init_module", "finit_module", "delete_module"], EPERM),
        ("file handles", ["open_by_handle_at", "name_to_handle_at"], EPERM),
        ("fanotify", ["fanotify_init"], EPERM),
        ("swap and reboot", ["swapon", "swapoff", "reboot"], EPERM),
    ]

    /// clone() flags that create namespaces (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET):
    /// refused with EPERM like unshare. CLONE_NEWTIME (0x80) exists only for clone3 and unshare; in clone's
    /// low byte it is part of the exit signal.
    static let namespaceFlags: UInt32 = 0x7E02_0000

    /// True when this architecture has a syscall table here (x86_64, arm64).
    static var isSupported: Bool { !SyscallNumbers.byName.isEmpty }

    // Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
    static let loadWord: UInt16 = 0x20        // BPF_LD | BPF_W | BPF_ABS
    static let jumpIfEqual: UInt16 = 0x15     // BPF_JMP | BPF_JEQ | BPF_K
    static let jumpIfAtLeast: UInt16 = 0x35   // BPF_JMP | BPF_JGE | BPF_K
    static let jumpIfAnyBit: UInt16 = 0x45    // BPF_JMP | BPF_JSET | BPF_K
    static let returnValue: UInt16 = 0x06     // BPF_RET | BPF_K
    static let killProcess: UInt32 = 0x8000_0000
    static let allow: UInt32 = 0x7FFF_0000
    static func fail(_ errno: Int32) -> UInt32 { 0x0005_0000 | UInt32(errno) }   // SECCOMP_RET_ERRNO
    // Offsets in struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }.
    static let nrOffset: UInt32 = 0, archOffset: UInt32 = 4, firstArgumentLowOffset: UInt32 = 16   // little-endian

    /// The filter program for this architecture.
    static func program() -> [Instruction] {
        func load(_ offset: UInt32) -> Instruction { Instruction(code: loadWord, jt: 0, jf: 0, k: offset) }
        func ret(_ value: UInt32) -> Instruction { Instruction(code: returnValue, jt: 0, jf: 0, k: value) }
        func number(_ call: String) -> UInt32 {
            guard let n = SyscallNumbers.byName[call] else { fatalError("no system-call number for \(call)") }
            return n
        }
        var p = [load(archOffset),
                 Instruction(code: jumpIfEqual, jt: 1, jf: 0, k: SyscallNumbers.auditArch),
                 ret(killProcess),
                 load(nrOffset)]
        if let x32 = SyscallNumbers.x32Bit {
            p += [Instruction(code: jumpIfAtLeast, jt: 0, jf: 1, k: x32), ret(fail(EPERM))]
        }
        for family in denied {
            for call in family.calls {
                p += [Instruction(code: jumpIfEqual, jt: 0, jf: 1, k: number(call)), ret(fail(family.errno))]
            }
        }
        p += [Instruction(code: jumpIfEqual, jt: 0, jf: 4, k: number("clone")),
              load(firstArgumentLowOffset),
              Instruction(code: jumpIfAnyBit, jt: 0, jf: 1, k: namespaceFlags),
              ret(fail(EPERM)),
              ret(allow)]
        p.append(ret(allow))
        return p
    }

    /// The program as the bytes bwrap reads (native-endian `struct sock_filter` array).
    static func bytes(_ program: [Instruction]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(program.count * 8)
        for i in program {
            withUnsafeBytes(of: i.code) { out += $0 }
            out += [i.jt, i.jf]
            withUnsafeBytes(of: i.k) { out += $0 }
        }
        return out
    }

    /// A close-on-exec descriptor from which the program can be read to EOF, for `bwrap --seccomp FD`.
    static func descriptor() throws -> Int32 {
        let (reader, writer) = try Posix.socketPair()
        defer { close(writer) }
        do {
            try Posix.sendAll(writer, bytes(program()))
        } catch {
            close(reader)
            throw error
        }
        return reader
    }
}
