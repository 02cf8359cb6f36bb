import XCTest
@testable import Tensor

final class DecodeAttentionTests: XCTestCase {
    /// decodeAttention against a Double softmax-weighted sum, for key counts and head sizes that hit every
    /// remainder path (keys not a multiple of 4 or 2, hd not a multiple of 32 or 8).
    func testMatchesReference() {
        var seed: UInt64 = 40
        for hd in [1, 8, 13, 32, 40, 64] {
            for len in [1, 2, 3, 5, 8, 33] {
                let q = randomTensor([hd], seed: seed).array.map { $0 * 3 }   // peaked softmax too
                let k = randomTensor([len, hd], seed: seed + 1).array
                let v = randomTensor([len, hd], seed: seed + 2).array
                seed += 3
                var out = [Float](repeating: .nan, count: hd), scores = [Float](repeating: .nan, count: len)
                Kernels.decodeAttention(q: q, keys: k, values: v, count: len, headDim: hd, out: &out, scores: &scores)
                var s = (0..<len).map { t in (0..<hd).reduce(0.0) { $0 + Double(q[$1]) * Double(k[t * hd + $1]) } }
                let m = s.max()!
                s = s.map { Foundation.exp(($0 - m) / Double(hd).squareRoot()) }
                let z = s.reduce(0, +)
                for j in 0..<hd {
                    let ref = (0..<len).reduce(0.0) { $0 + s[$1] / z * Double(v[$1 * hd + j]) }
                    XCTAssertEqual(Double(out[j]), ref, accuracy: 1e-5, "hd \(hd) len \(len) column \(j)")
                }
            }
        }
    }
}
