/// The system-call numbers of the architecture this binary runs on, for the seccomp filter.
/// Only the calls the filter names; checked against the kernel headers by SeccompTests when they are installed.
enum SyscallNumbers {
#if arch(x86_64)
    /// AUDIT_ARCH_X86_64: what the kernel puts in seccomp_data.arch for a 64-bit x86 system call.
    static let auditArch: UInt32 = 0xC000_003E
    /// The x32 ABI shares AUDIT_ARCH_X86_64 and sets this bit in the call number; the filter refuses all of it.
    static let x32Bit: UInt32? = 0x4000_0000
    static let byName: [String: UInt32] = [
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "keyctl": 250, "add_key": 248, "request_key": 249,
        "perf_event_open": 298, "bpf": 321, "userfaultfd": 323,
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
        "process_madvise": 440,
        "mount": 165, "umount2": 166, "pivot_root": 155, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "move_mount": 429, "open_tree": 428, "mount_setattr": 442,
        "unshare": 272, "setns": 308, "clone": 56, "clone3": 435,
        "kexec_load": 246, "kexec_file_load": 320,
        "init_module": 175, "finit_module": 313, "delete_module": 176,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "fanotify_init": 300,
        "swapon": 167, "swapoff": 168, "reboot": 169,
    ]
#elseif arch(arm64)
    /// AUDIT_ARCH_AARCH64. 32-bit ARM calls (AUDIT_ARCH_ARM) differ and are refused by the arch check.
    static let auditArch: UInt32 = 0xC000_00B7
    static let x32Bit: UInt32? = nil
    // asm-generic/unistd.h numbering.
    static let byName: [String: UInt32] = [
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "keyctl": 219, "add_key": 217, "request_key": 218,
        "perf_event_open": 241, "bpf": 280, "userfaultfd": 282,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
        "process_madvise": 440,
        "mount": 40, "umount2": 39, "pivot_root": 41, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "move_mount": 429, "open_tree": 428, "mount_setattr": 442,
        "unshare": 97, "setns": 268, "clone": 220, "clone3": 435,
        "kexec_load": 104, "kexec_file_load": 294,
        "init_module": 105, "finit_module": 273, "delete_module": 106,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "fanotify_init": 262,
        "swapon": 224, "swapoff": 225, "reboot": 142,
    ]
#else
    static let auditArch: UInt32 = 0
    static let x32Bit: UInt32? = nil
    static let byName: [String: UInt32] = [:]
#endif
}
