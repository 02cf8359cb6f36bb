import XCTest
@testable import Tensor

/// The packed SwiGLU, and the "first gradient is stored, later ones accumulate" backward paths: every op
/// whose backward writes all of its input's gradient skips zero-filling a fresh gradient buffer, so an
/// intermediate that feeds two consumers must get the first contribution stored and the second added.
final class FusedOpsTests: XCTestCase {
    func testPackedSwiGLUMatchesSplitHalves() throws {
        let rows = 3, f = 11   // f not a multiple of 8: exercises the scalar tails
        let x = randomTensor([rows, 2 * f], seed: 11)
        let gate = try Tensor(shape: [rows, f], (0..<rows).flatMap { Array(x.array[($0 * 2 * f)..<($0 * 2 * f + f)]) })
        let up = try Tensor(shape: [rows, f], (0..<rows).flatMap { Array(x.array[($0 * 2 * f + f)..<(($0 + 1) * 2 * f)]) })
        XCTAssertEqual(try swiglu(gateUp: x).array, try swiglu(gate: gate, up: up).array)
        XCTAssertEqual(try swiglu(gateUp: x).shape, [rows, f])
        try assertGradients([scale(x, 3)]) { try swiglu(gateUp: $0[0]) }
        XCTAssertThrowsError(try swiglu(gateUp: Tensor(zeros: [2, 5]))) { XCTAssertTrue("\($0)".contains("swiglu")) }
    }

    /// y = 1.5 x is an intermediate; each op consumes it twice, so y's gradient is stored once, then added.
    func testIntermediateWithTwoConsumers() throws {
        func twice(_ x: Tensor, _ op: (Tensor) throws -> Tensor) throws -> Tensor {
            let y = scale(x, 1.5)
            return try add(try op(y), try op(y))
        }
        let qkv = randomTensor([2 * 3, 3 * 2 * 2], seed: 21)   // B=2, T=3, H=2, hd=2
        try assertGradients([qkv]) { x in try twice(x[0]) { try causalAttention($0, batch: 2, seqLen: 3, heads: 2) } }
        try assertGradients([qkv]) { x in
            try twice(x[0]) { try ropeQK($0, positions: [0, 1, 2, 0, 1, 2], heads: 2) }
        }
        let rows = randomTensor([4, 6], seed: 22), w = scale(randomTensor([6], seed: 23), 0.5)
        try assertGradients([rows, w]) { x in try twice(x[0]) { try rmsNorm($0, weight: x[1]) } }
        try assertGradients([rows]) { x in try twice(x[0]) { try swiglu(gateUp: $0) } }
        try assertGradients([rows]) { x in try twice(x[0]) { try crossEntropy($0, targets: [1, 0, 5, 2], mask: [1, 0, 2, 1]) } }
        try assertGradients([rows]) { x in
            let y = scale(x[0], 1.5)
            return try matmul(y, y, transB: true)   // dA is stored, dB added into the same buffer
        }
        try assertGradients([rows, w]) { x in
            let y = scale(x[0], 1.5)
            let (s, n) = try addRMSNorm(y, y, weight: x[1])
            return try add(s, n)
        }
    }
}
