import XCTest
@testable import Tensor

final class SoftmaxTests: XCTestCase {
    func testLogSoftmaxGradientsAndValues() throws {
        for shape in [[3, 11], [1, 1], [2, 20]] {
            let x = scale(randomTensor(shape, seed: UInt64(shape[1])), 3)
            try assertGradients([x]) { try logSoftmax($0[0]) }
            let y = try logSoftmax(x).array, v = shape[1]
            for r in 0..<shape[0] {
                let row = (0..<v).map { Double(x.data[r * v + $0]) }
                let m = row.max()!, lse = m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
                for j in 0..<v { XCTAssertEqual(Double(y[r * v + j]), row[j] - lse, accuracy: 1e-5) }
            }
        }
    }

    func testCrossEntropyGradients() throws {
        let x = scale(randomTensor([4, 9], seed: 1), 2)
        try assertGradients([x]) { try crossEntropy($0[0], targets: [0, 8, 3, 3]) }
        try assertGradients([x]) { try crossEntropy($0[0], targets: [0, 8, 3, 3], mask: [1, 0, 0.5, 1]) }
    }

    func testUniformLogitsGiveLogV() throws {
        let v = 37, x = Tensor(zeros: [3, v])
        XCTAssertEqual(try crossEntropy(x, targets: [0, 5, 36]).item(), Foundation.log(Float(v)), accuracy: 1e-5)
        XCTAssertEqual(try crossEntropy(x, targets: [0, 5, 36]).shape, [])
    }

    func testMaskedRowsGetExactlyZeroGradient() throws {
        let x = randomTensor([3, 5], seed: 2)
        x.requiresGrad = true
        let loss = try crossEntropy(x, targets: [1, 2, 3], mask: [1, 0, 1])
        // The masked row does not count in the mean either.
        let both = try crossEntropy(try sliceRows(x, 0..<1), targets: [1]).item()
            + crossEntropy(try sliceRows(x, 2..<3), targets: [3]).item()
        XCTAssertEqual(loss.item(), both / 2, accuracy: 1e-6)
        try loss.backward()
        XCTAssertEqual(Array(x.gradArray![5..<10]), [0, 0, 0, 0, 0])
        XCTAssertNotEqual(x.gradArray![0], 0)

        let none = randomTensor([2, 5], seed: 3)
        none.requiresGrad = true
        let zero = try crossEntropy(none, targets: [0, 1], mask: [0, 0])
        XCTAssertEqual(zero.item(), 0)
        try zero.backward()
        XCTAssertEqual(none.gradArray ?? [Float](repeating: 0, count: 10), [Float](repeating: 0, count: 10))
    }

    func testBadInputThrows() {
        XCTAssertThrowsError(try crossEntropy(Tensor(zeros: [2, 4]), targets: [0, 4])) {
            XCTAssertTrue("\($0)".contains("target id 4") && "\($0)".contains("0..<4"))
        }
        XCTAssertThrowsError(try crossEntropy(Tensor(zeros: [2, 4]), targets: [0])) { XCTAssertTrue("\($0)".contains("crossEntropy")) }
        XCTAssertThrowsError(try crossEntropy(Tensor(zeros: [2, 4]), targets: [0, 1], mask: [1]))
        XCTAssertThrowsError(try crossEntropy(Tensor(zeros: [2, 4]), targets: [0, 1], mask: [1, -1]))
        XCTAssertThrowsError(try logSoftmax(Tensor(zeros: [8]))) { XCTAssertTrue("\($0)".contains("logSoftmax")) }
    }

    /// The sampler's numerators: exp((x - max) * scale) within 1e-6 of a Double reference, exactly 0 for a -inf
    /// (masked) logit, the first index of the largest logit, and their sum.
    func testSoftmaxNumerators() {
        var rng = RNG(seed: 3)
        for n in [1, 7, 8, 29, 1000] {
            var x = (0..<n).map { _ in Float(rng.normal()) * 4 }
            if n > 2 { x[1] = -.infinity; x[n - 1] = x.max()! }   // a masked token; a tie after the first maximum
            var p = [Float](repeating: .nan, count: n)
            let (best, m, sum) = x.withUnsafeBufferPointer { xp in
                p.withUnsafeMutableBufferPointer { Kernels.softmaxNumerators(xp.baseAddress!, n, scale: 0.5, out: $0.baseAddress!) }
            }
            XCTAssertEqual(m, x.max()!)
            XCTAssertEqual(best, x.firstIndex(of: m)!)
            var total = 0.0
            for j in 0..<n {
                let ref = exp((Double(x[j]) - Double(m)) * 0.5)
                XCTAssertEqual(Double(p[j]), ref, accuracy: 1e-6 * max(ref, 1e-30), "n \(n) j \(j)")
                total += Double(p[j])
            }
            if n > 2 { XCTAssertEqual(p[1], 0) }
            XCTAssertEqual(Double(sum), total, accuracy: 1e-5 * total)
        }
    }
}
