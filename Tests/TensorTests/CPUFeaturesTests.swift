import XCTest
@testable import Tensor

final class CPUFeaturesTests: XCTestCase {
    private func cpuinfo(_ flags: String, model: String = "Test CPU") -> String {
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: \(model)\nflags\t\t: fpu sse2 \(flags)\n\n"
            + "processor\t: 1\nflags\t\t: fpu\n"
    }

    func testParsesFirstProcessorBlock() {
        let cpu = CPUFeatures(cpuinfo: cpuinfo("avx2 fma", model: "Intel(R) Xeon(R) Platinum"))
        XCTAssertEqual(cpu.vendor, "GenuineIntel")
        XCTAssertEqual(cpu.modelName, "Intel(R) Xeon(R) Platinum")
        XCTAssertTrue(cpu.hasAVX2)
        XCTAssertEqual(cpu.summary, "avx2 fma")
        XCTAssertEqual(CPUFeatures(cpuinfo: "").summary, "no AVX2")
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
            let choice = BLAS.chooseCore(for: CPUFeatures(cpuinfo: cpuinfo(flags)), environment: [:])
            XCTAssertEqual(choice.core, core, flags)
        }
    }

    /// An exported OPENBLAS_CORETYPE loses to the features unless TIR_KEEP_OPENBLAS_CORETYPE is set;
    /// TIR_BLAS_CORE wins over both.
    func testOverridePrecedence() {
        let cpu = CPUFeatures(cpuinfo: cpuinfo("avx2 fma avx512f avx512bw avx512dq avx512vl avx512_bf16"))
        XCTAssertEqual(BLAS.chooseCore(for: cpu, environment: ["OPENBLAS_CORETYPE": "Haswell"]).core, "Cooperlake")
        let keep = BLAS.chooseCore(for: cpu, environment: ["OPENBLAS_CORETYPE": "Haswell", BLAS.keepVariable: "1"])
        XCTAssertNil(keep.core)
        XCTAssertTrue(keep.reason.contains("OPENBLAS_CORETYPE=Haswell"), keep.reason)
        XCTAssertEqual(BLAS.chooseCore(for: cpu, environment: [BLAS.keepVariable: "0"]).core, "Cooperlake")
        let forced = [BLAS.forceVariable: "SkylakeX", BLAS.keepVariable: "1", "OPENBLAS_CORETYPE": "Haswell"]
        XCTAssertEqual(BLAS.chooseCore(for: cpu, environment: forced).core, "SkylakeX")
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
