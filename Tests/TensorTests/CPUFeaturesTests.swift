import XCTest
@testable import Tensor

final class CPUFeaturesTests: XCTestCase {
    private func cpu(_ flags: String) -> CPUFeatures {
        CPUFeatures(vendor: "GenuineIntel", modelName: "Test CPU", flags: Set(flags.split(separator: " ").map(String.init)))
    }

    /// /proc/cpuinfo gives the model name only (of the first processor block).
    func testModelNameFromCPUInfo() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum\n"
            + "flags\t\t: fpu sse2 avx2 fma avx512f\n\nprocessor\t: 1\nmodel name\t: Other\n"
        XCTAssertEqual(CPUFeatures.modelName(cpuinfo: text), "Intel(R) Xeon(R) Platinum")
        XCTAssertEqual(CPUFeatures.modelName(cpuinfo: ""), "")
        XCTAssertEqual(cpu("avx2 fma").summary, "avx2 fma")
        XCTAssertEqual(cpu("").summary, "no AVX2")
        XCTAssertEqual(CPUFeatures.vendor(ebx: 0x756e_6547, edx: 0x4965_6e69, ecx: 0x6c65_746e), "GenuineIntel")
        XCTAssertEqual(CPUFeatures.vendor(ebx: 0, edx: 0, ecx: 0), "")
    }

    // Register words of a Zen 4 / Sapphire Rapids class CPU with everything enabled by the OS.
    private let fma: UInt32 = 1 << 12, osxsave: UInt32 = 1 << 27, avx: UInt32 = 1 << 28
    private let avx2: UInt32 = 1 << 5, avx512: UInt32 = 1 << 16 | 1 << 17 | 1 << 30 | 1 << 31   // F DQ BW VL
    private let bf16: UInt32 = 1 << 5, vnni: UInt32 = 1 << 11
    private let sseAVXState: UInt64 = 0b110, avx512State: UInt64 = 0b1110_0000
    private var full: CPUFeatures.Registers {
        CPUFeatures.Registers(maxLeaf: 0x1f, leaf1ECX: fma | osxsave | avx, leaf7EAX: 1, leaf7EBX: avx2 | avx512,
                              leaf7ECX: vnni, leaf7Sub1EAX: bf16, xcr0: 0b111 | avx512State)
    }
    private func decoded(_ r: CPUFeatures.Registers) -> CPUFeatures {
        CPUFeatures(vendor: "", modelName: "", flags: CPUFeatures.decode(r))
    }

    /// CPUID and XGETBV words → features: a feature counts only when the CPU reports it and the OS has enabled
    /// its register state (what /proc/cpuinfo cannot tell under an emulator or a kernel with AVX-512 disabled).
    func testDecodeRequiresCPUAndOSSupport() {
        XCTAssertEqual(decoded(full).summary, "avx2 fma avx512f avx512bw avx512dq avx512vl avx512_bf16 avx512_vnni")
        XCTAssertTrue(decoded(full).hasAVX512BF16)
        XCTAssertTrue(decoded(full).hasAVX512VNNI)
        XCTAssertEqual(CPUFeatures.decode(CPUFeatures.Registers()), [])   // off x86-64: all zeros

        var r = full
        r.xcr0 = 0b111                                     // AVX-512 in CPUID, ZMM state not enabled by the OS
        XCTAssertEqual(decoded(r).summary, "avx2 fma")
        XCTAssertTrue(decoded(r).hasAVX2)
        XCTAssertFalse(decoded(r).hasAVX512)
        for missing: UInt64 in [1 << 5, 1 << 6, 1 << 7] {   // any one of opmask, ZMM_Hi256, Hi16_ZMM missing
            r.xcr0 = 0b111 | (avx512State & ~missing)
            XCTAssertFalse(decoded(r).hasAVX512, "xcr0 \(r.xcr0)")
            XCTAssertTrue(decoded(r).hasAVX2)
        }

        r = full
        r.leaf1ECX &= ~osxsave                             // the OS did not enable XSAVE: no AVX at all
        XCTAssertEqual(decoded(r).summary, "no AVX2")
        r = full
        r.xcr0 = 0b011 | avx512State                       // YMM state not enabled: neither AVX2 nor AVX-512
        XCTAssertEqual(decoded(r).summary, "no AVX2")
        r.xcr0 = 0                                         // what ccpuid_xgetbv0 returns without OSXSAVE
        XCTAssertEqual(decoded(r).summary, "no AVX2")

        // An AVX2-only CPU (Haswell, or qemu -cpu Haswell-v4): AVX2, no AVX-512 whatever XCR0 says.
        r = CPUFeatures.Registers(maxLeaf: 0xd, leaf1ECX: fma | osxsave | avx, leaf7EBX: avx2, xcr0: 0b111)
        XCTAssertEqual(decoded(r).summary, "avx2 fma")
        r.xcr0 |= avx512State
        XCTAssertEqual(decoded(r).summary, "avx2 fma")
        XCTAssertEqual(BLAS.chooseCore(for: decoded(r), environment: [:]).core, "Haswell")

        r = full
        r.maxLeaf = 6                                      // no leaf 7: its words are not features
        XCTAssertEqual(decoded(r).flags, ["avx", "fma"])
        XCTAssertFalse(decoded(r).hasAVX2)
        r = full
        r.leaf7EAX = 0                                     // no subleaf 1 of leaf 7: no BF16 (VNNI is in subleaf 0)
        XCTAssertEqual(decoded(r).summary, "avx2 fma avx512f avx512bw avx512dq avx512vl avx512_vnni")
        r.leaf7ECX = 0                                     // a Skylake-SP: AVX-512 without VNNI
        XCTAssertEqual(decoded(r).summary, "avx2 fma avx512f avx512bw avx512dq avx512vl")
        XCTAssertFalse(decoded(r).hasAVX512VNNI)
        r = full
        r.leaf7EBX = avx2 | 1 << 16                        // AVX-512 F alone: not the F/BW/DQ/VL subset
        XCTAssertFalse(decoded(r).hasAVX512)
        XCTAssertFalse(decoded(r).hasAVX512BF16)
        XCTAssertEqual(BLAS.chooseCore(for: decoded(r), environment: [:]).core, "Haswell")
        r = full
        r.leaf1ECX &= ~fma                                 // AVX2 without FMA is not our AVX2 level
        XCTAssertFalse(decoded(r).hasAVX2)
        XCTAssertFalse(decoded(r).hasAVX512)
    }

    /// This machine, read through the C target: the decoded features agree with what the process can run.
    func testCurrentComesFromCPUID() {
        let current = CPUFeatures.current
        XCTAssertEqual(current.flags, CPUFeatures.decode(.read()))
        #if arch(x86_64)
        XCTAssertFalse(current.vendor.isEmpty)
        print("CPUFeatures.current: \(current.vendor), \(current.modelName): \(current.summary)")
        #endif
    }

    /// The feature → core mapping, by features only: a CPU model OpenBLAS 0.3.21 does not know (e.g. Intel
    /// family 6 model 207, which it runs on Prescott kernels) gets the same core as a known one.
    func testCoreFollowsFeatures() {
        let avx512 = "avx2 fma avx512f avx512bw avx512dq avx512vl"
        let cases: [(String, String?)] = [
            (avx512 + " avx512_bf16", "Cooperlake"),
            (avx512, "SkylakeX"),
            ("avx2 fma avx512f", "Haswell"),          // AVX-512 F alone is not the F/BW/DQ/VL subset
            ("avx2 fma", "Haswell"),
            ("avx2", ""),                             // AVX2 without FMA: OpenBLAS's own detection
            ("sse4_2 avx", ""),
        ]
        for (flags, core) in cases {
            let choice = BLAS.chooseCore(for: cpu(flags), environment: [:])
            XCTAssertEqual(choice.core, core, flags)
        }
    }

    /// An exported OPENBLAS_CORETYPE loses to the features unless TIR_KEEP_OPENBLAS_CORETYPE is set;
    /// TIR_BLAS_CORE wins over both.
    func testOverridePrecedence() {
        let features = cpu("avx2 fma avx512f avx512bw avx512dq avx512vl avx512_bf16")
        XCTAssertEqual(BLAS.chooseCore(for: features, environment: ["OPENBLAS_CORETYPE": "Haswell"]).core, "Cooperlake")
        let keep = BLAS.chooseCore(for: features, environment: ["OPENBLAS_CORETYPE": "Haswell", BLAS.keepVariable: "1"])
        XCTAssertNil(keep.core)
        XCTAssertTrue(keep.reason.contains("OPENBLAS_CORETYPE=Haswell"), keep.reason)
        XCTAssertEqual(BLAS.chooseCore(for: features, environment: [BLAS.keepVariable: "0"]).core, "Cooperlake")
        let forced = [BLAS.forceVariable: "SkylakeX", BLAS.keepVariable: "1", "OPENBLAS_CORETYPE": "Haswell"]
        XCTAssertEqual(BLAS.chooseCore(for: features, environment: forced).core, "SkylakeX")
    }

    /// On this machine, with no environment: a wide core whenever the CPU has AVX2, also when OpenBLAS
    /// starts on a generic one (what 0.3.21 loads for CPU models it does not know).
    func testConfigureLandsOnAWideCore() throws {
        try XCTSkipUnless(CPUFeatures.current.hasAVX2, "needs an AVX2 CPU")
        let original = BLAS.coreName
        defer { BLAS.select(coreType: original) }
        let (core, reason) = BLAS.configure(environment: [:])
        XCTAssertEqual(core, BLAS.coreName)
        XCTAssertTrue(BLAS.wideCores.contains(core), "\(core): \(reason)")
        XCTAssertEqual(BLAS.select(coreType: "Prescott"), "Prescott")
        XCTAssertTrue(BLAS.wideCores.contains(BLAS.configure(environment: [:]).core))
    }
}
