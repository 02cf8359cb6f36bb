import Foundation
import CCPUID

/// The CPU this process runs on: what kernel choice depends on.
///
/// The features come from the CPUID and XGETBV instructions (`CPUFeatures.Registers`), as OpenBLAS and ggml
/// detect them, never from /proc/cpuinfo: that file describes the host's CPU, which is not the one the process
/// runs on under an emulator (qemu-user with an older CPU model), and it lists AVX-512 also where the kernel
/// leaves the AVX-512 register state disabled. A feature counts only when the CPU has it and the OS saves its
/// registers (XCR0); otherwise its instructions fault with SIGILL. /proc/cpuinfo supplies the model name only.
///
/// Choices are made from feature flags, never from a table of models, so a CPU newer than our OpenBLAS
/// (which knows models, not features) still gets the widest kernels it supports.
public struct CPUFeatures: Equatable, Sendable {
    public var vendor: String
    public var modelName: String
    /// Lower-case names as Linux spells them: "avx", "fma", "avx2", "avx512f", "avx512dq", "avx512bw",
    /// "avx512vl", "avx512_bf16", "avx512_vnni" (only those the CPU has and the OS has enabled).
    public var flags: Set<String>

    public init(vendor: String, modelName: String, flags: Set<String>) {
        self.vendor = vendor
        self.modelName = modelName
        self.flags = flags
    }

    /// The CPUID and XGETBV words the features are decoded from.
    public struct Registers: Equatable, Sendable {
        /// CPUID leaf 0 EAX: the highest basic leaf (leaf 7 exists only when it is >= 7).
        public var maxLeaf: UInt32
        /// CPUID leaf 1 ECX: FMA (bit 12), OSXSAVE (27: the OS enabled XGETBV), AVX (28).
        public var leaf1ECX: UInt32
        /// CPUID leaf 7 subleaf 0 EAX: the highest subleaf of leaf 7.
        public var leaf7EAX: UInt32
        /// CPUID leaf 7 subleaf 0 EBX: AVX2 (bit 5), AVX512F (16), AVX512DQ (17), AVX512BW (30), AVX512VL (31).
        public var leaf7EBX: UInt32
        /// CPUID leaf 7 subleaf 0 ECX: AVX512_VNNI (bit 11).
        public var leaf7ECX: UInt32
        /// CPUID leaf 7 subleaf 1 EAX: AVX512_BF16 (bit 5).
        public var leaf7Sub1EAX: UInt32
        /// XGETBV(0): the register state the OS saves; bits 1, 2 (SSE, AVX) for AVX, and 5, 6, 7 (opmask,
        /// ZMM_Hi256, Hi16_ZMM) as well for AVX-512. 0 when OSXSAVE is clear.
        public var xcr0: UInt64

        public init(maxLeaf: UInt32 = 0, leaf1ECX: UInt32 = 0, leaf7EAX: UInt32 = 0, leaf7EBX: UInt32 = 0,
                    leaf7ECX: UInt32 = 0, leaf7Sub1EAX: UInt32 = 0, xcr0: UInt64 = 0) {
            self.maxLeaf = maxLeaf
            self.leaf1ECX = leaf1ECX
            self.leaf7EAX = leaf7EAX
            self.leaf7EBX = leaf7EBX
            self.leaf7ECX = leaf7ECX
            self.leaf7Sub1EAX = leaf7Sub1EAX
            self.xcr0 = xcr0
        }

        /// This CPU's words (all zero off x86-64).
        public static func read() -> Registers {
            let leaf0 = ccpuid(0, 0), leaf1 = ccpuid(1, 0), leaf7 = ccpuid(7, 0), leaf7s1 = ccpuid(7, 1)
            return Registers(maxLeaf: leaf0.eax, leaf1ECX: leaf1.ecx, leaf7EAX: leaf7.eax, leaf7EBX: leaf7.ebx,
                             leaf7ECX: leaf7.ecx, leaf7Sub1EAX: leaf7s1.eax, xcr0: ccpuid_xgetbv0())
        }
    }

    /// The features usable by this process: present in CPUID and with their register state enabled by the OS.
    /// Pure, so it is tested with hand-made register values.
    public static func decode(_ r: Registers) -> Set<String> {
        func bit(_ word: UInt32, _ n: UInt32) -> Bool { word & (1 << n) != 0 }
        let osxsave = bit(r.leaf1ECX, 27)
        // XCR0 counts only where OSXSAVE says the OS manages it.
        let avxState = osxsave && r.xcr0 & 0b110 == 0b110
        let avx512State = avxState && r.xcr0 & 0b1110_0000 == 0b1110_0000
        let leaf7EBX: UInt32 = r.maxLeaf >= 7 ? r.leaf7EBX : 0, leaf7ECX: UInt32 = r.maxLeaf >= 7 ? r.leaf7ECX : 0
        let leaf7Sub1EAX: UInt32 = r.maxLeaf >= 7 && r.leaf7EAX >= 1 ? r.leaf7Sub1EAX : 0
        var flags = Set<String>()
        if avxState {
            if bit(r.leaf1ECX, 28) { flags.insert("avx") }
            if bit(r.leaf1ECX, 12) { flags.insert("fma") }
            if bit(leaf7EBX, 5) { flags.insert("avx2") }
        }
        if avx512State {
            for (n, name) in [(16, "avx512f"), (17, "avx512dq"), (30, "avx512bw"), (31, "avx512vl")] as [(UInt32, String)]
            where bit(leaf7EBX, n) { flags.insert(name) }
            if bit(leaf7EBX, 16), bit(leaf7Sub1EAX, 5) { flags.insert("avx512_bf16") }
            if bit(leaf7EBX, 16), bit(leaf7ECX, 11) { flags.insert("avx512_vnni") }
        }
        return flags
    }

    /// The "model name" of the first processor block of /proc/cpuinfo text ("" where there is none).
    public static func modelName(cpuinfo: String) -> String {
        for line in cpuinfo.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].trimmingCharacters(in: .whitespaces) == "model name" {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return ""
    }

    /// The vendor string of CPUID leaf 0 ("GenuineIntel", "AuthenticAMD"; "" off x86-64).
    static func vendor(ebx: UInt32, edx: UInt32, ecx: UInt32) -> String {
        let bytes = [ebx, edx, ecx].flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The CPU this process runs on: features from CPUID/XGETBV, model name from /proc/cpuinfo.
    public static let current: CPUFeatures = {
        let leaf0 = ccpuid(0, 0)
        return CPUFeatures(vendor: vendor(ebx: leaf0.ebx, edx: leaf0.edx, ecx: leaf0.ecx),
                           modelName: modelName(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""),
                           flags: decode(.read()))
    }()

    public var hasAVX2: Bool { flags.contains("avx2") && flags.contains("fma") }
    /// AVX-512 F/BW/DQ/VL: the common subset of every AVX-512 CPU (Skylake-SP and later, Zen 4 and later).
    public var hasAVX512: Bool {
        hasAVX2 && ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
    }
    public var hasAVX512BF16: Bool { hasAVX512 && flags.contains("avx512_bf16") }
    /// AVX512-VNNI (vpdpbusd: 8-bit integer dot products; Cascade Lake and later, Zen 4 and later).
    public var hasAVX512VNNI: Bool { hasAVX512 && flags.contains("avx512_vnni") }

    /// The features that decide kernels, for start lines and benchmark reports.
    public var summary: String {
        let names = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16", "avx512_vnni"]
        let present = names.filter(flags.contains)
        return present.isEmpty ? "no AVX2" : present.joined(separator: " ")
    }
}
