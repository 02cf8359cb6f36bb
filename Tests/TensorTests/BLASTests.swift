import XCTest
@testable import Tensor

final class BLASTests: XCTestCase {
    /// Switching OpenBLAS kernels at run time keeps matmul correct, leaves OPENBLAS_CORETYPE as it was, and
    /// can switch back. (On a build without DYNAMIC_ARCH both calls are no-ops and the checks still hold.)
    func testKernelSelectionKeepsResultsAndEnvironment() throws {
        let original = BLAS.coreName
        let env = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
        defer { BLAS.select(coreType: original) }
        // Odd sizes and one > 64 rows: packing edges and the non-"small matrix" path.
        let a = randomTensor([70, 33], seed: 31), b = randomTensor([45, 33], seed: 32)
        var reference = [Double](repeating: 0, count: 70 * 45)
        for i in 0..<70 { for j in 0..<45 { for p in 0..<33 {
            reference[i * 45 + j] += Double(a.data[i * 33 + p]) * Double(b.data[j * 33 + p])
        } } }
        for choose in [{ BLAS.select(coreType: nil) }, { BLAS.select(coreType: original) }] {
            let core = choose()
            XCTAssertEqual(BLAS.coreName, core)
            let y = try linear(a, b).array
            for (u, r) in zip(y, reference) { XCTAssertEqual(Double(u), r, accuracy: 1e-5, "core \(core)") }
            XCTAssertEqual(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], env)
        }
        XCTAssertEqual(BLAS.coreName, original)
        // Where it matters (AVX2 kernels forced on an AVX-512 CPU), configure must actually switch.
        if original == "Haswell", CPUFeatures.current.hasAVX512 {
            XCTAssertNotEqual(BLAS.configure(environment: [:]).core, "Haswell")
        }
    }

    /// Products above `gemmSplitMACs` are split over workers by rows or columns of C; every transpose
    /// combination and both split directions must match one single-threaded call, beta included.
    func testSplitGEMMMatchesOneCall() throws {
        Threads.set(2)
        defer { Threads.set(ProcessInfo.processInfo.activeProcessorCount) }
        for (m, n, k) in [(300, 70, 128), (70, 300, 128), (257, 255, 40)] {
            XCTAssertGreaterThanOrEqual(m * n * k, Kernels.gemmSplitMACs)
            for transA in [false, true] {
                for transB in [false, true] {
                    let a = randomTensor([m * k], seed: 41), b = randomTensor([k * n], seed: 42)
                    let c0 = randomTensor([m * n], seed: 43)
                    let split = try Tensor(shape: [m * n], c0.array), one = try Tensor(shape: [m * n], c0.array)
                    let lda = transA ? m : k, ldb = transB ? k : n
                    Kernels.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: lda,
                                  b: b.data, ldb: ldb, beta: 1, c: split.data, ldc: n)
                    Kernels.sgemm1(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: lda,
                                   b: b.data, ldb: ldb, beta: 1, c: one.data, ldc: n)
                    for (x, y) in zip(split.array, one.array) {
                        XCTAssertEqual(x, y, accuracy: 1e-4, "m \(m) n \(n) k \(k) transA \(transA) transB \(transB)")
                    }
                }
            }
        }
    }
}
