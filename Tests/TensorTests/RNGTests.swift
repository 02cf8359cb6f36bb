import XCTest
@testable import Tensor

final class RNGTests: XCTestCase {
    func testMatchesReferenceVectors() {
        // splitmix64(0)'s first output is the well-known 0xE220A8397B1DCDAF; the xoshiro256** outputs were
        // computed with an independent Python port of the reference C code.
        var r = RNG(seed: 0)
        XCTAssertEqual(r.state, [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F, 0xF88B_B8A8_724C_81EC])
        XCTAssertEqual((0..<4).map { _ in r.next() },
                       [0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0, 0x6AA5_94F1_262D_2D2C])
        var s = RNG(seed: 42)
        XCTAssertEqual((0..<2).map { _ in s.next() }, [0x1578_0B2E_0C2E_C716, 0x6104_D986_6D11_3A7E])
    }

    func testSameSeedSameStream() {
        var a = RNG(seed: 123), b = RNG(seed: 123), c = RNG(seed: 124)
        let xa = (0..<100).map { _ in a.next() }
        XCTAssertEqual(xa, (0..<100).map { _ in b.next() })
        XCTAssertNotEqual(xa, (0..<100).map { _ in c.next() })
    }

    func testStateSaveRestoreContinuesTheStream() throws {
        var a = RNG(seed: 9)
        for _ in 0..<17 { _ = a.next() }
        _ = a.normal()
        let saved = a.state
        let expected = (0..<50).map { _ in a.uniform() }
        var b = try RNG(state: saved)
        XCTAssertEqual((0..<50).map { _ in b.uniform() }, expected)
        XCTAssertEqual(b.state, a.state)
        XCTAssertThrowsError(try RNG(state: [1, 2, 3])) { e in XCTAssertTrue("\(e)".contains("4 words"), "\(e)") }
        XCTAssertThrowsError(try RNG(state: [0, 0, 0, 0]))
    }

    func testUniformAndNormalStatistics() {
        var r = RNG(seed: 1)
        let n = 50_000
        var sum = 0.0, sumD = 0.0, ns = 0.0, ns2 = 0.0
        for _ in 0..<n {
            let u = r.uniform(), d = r.uniformDouble()
            XCTAssert(u >= 0 && u < 1 && d >= 0 && d < 1)
            sum += Double(u); sumD += d
            let z = Double(r.normal())
            XCTAssert(z.isFinite)
            ns += z; ns2 += z * z
        }
        XCTAssertEqual(sum / Double(n), 0.5, accuracy: 0.01)
        XCTAssertEqual(sumD / Double(n), 0.5, accuracy: 0.01)
        XCTAssertEqual(ns / Double(n), 0, accuracy: 0.02)
        XCTAssertEqual(ns2 / Double(n), 1, accuracy: 0.03)
    }

    func testIntStaysInRangeAndIsUniform() {
        var r = RNG(seed: 2)
        var counts = [0, 0, 0]
        for _ in 0..<30_000 { counts[r.int(-1..<2) + 1] += 1 }
        for c in counts { XCTAssertEqual(Double(c) / 30_000, 1.0 / 3, accuracy: 0.015) }
        for _ in 0..<100 { XCTAssertEqual(r.int(5..<6), 5) }
        for _ in 0..<100 { let x = r.int(Int.min..<Int.max); XCTAssert(x < Int.max) }
    }

    func testCategoricalFrequenciesMatchProbabilities() {
        var r = RNG(seed: 4)
        let weights: [Float] = [0.2, 0, 1.2, 0.6]    // unnormalised: 0.1, 0, 0.6, 0.3
        var counts = [0, 0, 0, 0]
        let n = 40_000
        weights.withUnsafeBufferPointer { w in
            for _ in 0..<n { counts[r.categorical(w)] += 1 }
        }
        XCTAssertEqual(counts[1], 0)
        XCTAssertEqual(Double(counts[0]) / Double(n), 0.1, accuracy: 0.01)
        XCTAssertEqual(Double(counts[2]) / Double(n), 0.6, accuracy: 0.01)
        XCTAssertEqual(Double(counts[3]) / Double(n), 0.3, accuracy: 0.01)
        // NaN and negative weights count as zero
        let odd: [Float] = [.nan, -1, 0, 2]
        odd.withUnsafeBufferPointer { w in for _ in 0..<100 { XCTAssertEqual(r.categorical(w), 3) } }
    }

    func testShuffleIsAReproduciblePermutation() {
        var a = Array(0..<50), b = Array(0..<50)
        var r1 = RNG(seed: 8), r2 = RNG(seed: 8)
        r1.shuffle(&a); r2.shuffle(&b)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, Array(0..<50))
        XCTAssertEqual(a.sorted(), Array(0..<50))
        var empty: [Int] = []
        r1.shuffle(&empty)
        XCTAssertEqual(empty, [])
    }

    func testSplitGivesIndependentReproducibleChildren() {
        var p1 = RNG(seed: 11), p2 = RNG(seed: 11)
        var c1 = p1.split(), c2 = p2.split()
        let x1 = (0..<20).map { _ in c1.next() }
        XCTAssertEqual(x1, (0..<20).map { _ in c2.next() })
        var d1 = p1.split()
        XCTAssertNotEqual(x1, (0..<20).map { _ in d1.next() })
        XCTAssertNotEqual(x1, (0..<20).map { _ in p1.next() })
    }
}
