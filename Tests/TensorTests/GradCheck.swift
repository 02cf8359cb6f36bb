import XCTest
@testable import Tensor

/// Central finite differences against the tape. The loss is a fixed random projection of the op's output,
/// L = sum_i w_i * out_i, accumulated in Double so every output element is checked with its own weight.
/// Forward passes run in Float32, so `eps` is moderate and the tolerance relative.
func assertGradients(_ inputs: [Tensor], eps: Double = 1e-2, tol: Double = 2e-2, seed: UInt64 = 7,
                     file: StaticString = #filePath, line: UInt = #line,
                     _ f: ([Tensor]) throws -> Tensor) throws {
    for t in inputs { t.requiresGrad = true; t.zeroGrad() }
    let out = try f(inputs)
    var state = seed
    let w: [Float] = (0..<out.count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int(state >> 40) % 2001 - 1000) / 1000
    }
    func loss() throws -> Double {
        let o = try noGrad { try f(inputs) }
        var s = 0.0
        for i in 0..<o.count { s += Double(w[i]) * Double(o.data[i]) }
        return s
    }
    try out.backward(seed: w)
    for (k, t) in inputs.enumerated() {
        let analytic = t.gradArray ?? [Float](repeating: 0, count: t.count)
        for i in 0..<t.count {
            let saved = t.data[i]
            t.data[i] = Float(Double(saved) + eps); let lp = try loss()
            t.data[i] = Float(Double(saved) - eps); let lm = try loss()
            t.data[i] = saved
            let numeric = (lp - lm) / (2 * eps)
            let a = Double(analytic[i])
            if abs(a - numeric) > tol * max(1, abs(numeric)) {
                XCTFail("input \(k) element \(i): analytic \(a) vs numeric \(numeric)", file: file, line: line)
                return
            }
        }
    }
}

/// Deterministic test data in [-1, 1].
func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var state = seed &+ 0x9E3779B97F4A7C15
    let n = shape.reduce(1, *)
    let v: [Float] = (0..<n).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int(state >> 33) % 20001 - 10000) / 10000
    }
    return try! Tensor(shape: shape, v)
}
