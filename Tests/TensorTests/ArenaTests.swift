import XCTest
@testable import Tensor

final class ArenaTests: XCTestCase {
    func testLayoutIsContiguousInOrder() throws {
        let a = try ParameterArena(layout: [("emb", [5, 3]), ("norm", [3]), ("w", [2, 3])])
        XCTAssertEqual(a.count, 15 + 3 + 6)
        XCTAssertEqual(a.entries.map(\.name), ["emb", "norm", "w"])
        XCTAssertEqual(a.entries.map(\.offset), [0, 15, 18])
        XCTAssertEqual(a.entries.map(\.count), [15, 3, 6])
        XCTAssertEqual(try a.entry("w").shape, [2, 3])
        for i in 0..<a.count { XCTAssertEqual(a.data[i], 0); XCTAssertEqual(a.grad[i], 0) }
    }

    func testBadLayoutsThrow() {
        XCTAssertThrowsError(try ParameterArena(layout: [("a", [2]), ("a", [3])])) { e in
            XCTAssertTrue("\(e)".contains("duplicate parameter name 'a'"), "\(e)")
        }
        for shape in [[], [0], [3, -1]] {
            XCTAssertThrowsError(try ParameterArena(layout: [("x", shape)])) { e in
                XCTAssertTrue("\(e)".contains("bad shape"), "\(e)")
            }
        }
        XCTAssertThrowsError(try ParameterArena(layout: [("", [1])]))
        XCTAssertThrowsError(try ParameterArena(layout: [("huge", [Int.max, 2])]))
    }

    func testMissingNameListsKnownNames() throws {
        let a = try ParameterArena(layout: [("layers.0.qkv", [6, 2]), ("layers.0.o", [2, 2])])
        XCTAssertThrowsError(try a.tensor("layers.0.qvk")) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("'layers.0.qvk'") && m.contains("'layers.0.qkv'") && m.contains("'layers.0.o'"), m)
        }
    }

    func testViewsShareStorageWithTheArena() throws {
        let a = try ParameterArena(layout: [("b", [4]), ("w", [2, 3])])
        let w = try a.tensor("w")
        XCTAssertTrue(w.requiresGrad)
        XCTAssertEqual(w.shape, [2, 3])
        XCTAssertEqual(w.data, a.data + 4)
        XCTAssertEqual(w.grad, a.grad + 4)
        w.data[5] = 7          // write through the view ...
        XCTAssertEqual(a.data[9], 7)   // ... read in the arena
        a.data[4] = -3         // and the other way round
        XCTAssertEqual(w.array[0], -3)
        XCTAssertEqual(try a.view(offset: 8, shape: [2, 1]).array, [0, 7])   // last two floats: fits exactly
        XCTAssertThrowsError(try a.view(offset: 9, shape: [2, 1]))            // one past the end
    }

    func testRangeViewCoversAdjacentEntries() throws {
        // q, k, v of one layer laid out back to back, used as one [3D, D] matrix
        let a = try ParameterArena(layout: [("n", [2]), ("q", [2, 2]), ("k", [2, 2]), ("v", [2, 2])])
        let qkv = try a.view(offset: try a.entry("q").offset, shape: [6, 2])
        for i in 0..<12 { qkv.data[i] = Float(i + 1) }
        XCTAssertEqual(try a.tensor("k").array, [5, 6, 7, 8])
        XCTAssertEqual(try a.tensor("v").array, [9, 10, 11, 12])
        XCTAssertThrowsError(try a.view(offset: 3, shape: [6, 2])) { e in
            XCTAssertTrue("\(e)".contains("outside the arena 0..<14"), "\(e)")
        }
        XCTAssertThrowsError(try a.view(offset: -1, shape: [1]))
        XCTAssertThrowsError(try a.view(offset: 0, shape: [0]))
    }

    func testBackwardThroughViewsAccumulatesIntoArenaGrad() throws {
        let a = try ParameterArena(layout: [("q", [1, 2]), ("k", [1, 2]), ("v", [1, 2])])
        let qkv = try a.view(offset: 0, shape: [3, 2])
        for i in 0..<6 { qkv.data[i] = Float(i) }
        let x = try Tensor(shape: [1, 2], [1, 2])
        let y = try linear(x, qkv)             // [1,2] x [3,2]ᵀ -> [1,3]
        try y.backward(seed: [1, 10, 100])
        // dW[o, i] = seed[o] * x[i]
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.grad, count: 6)), [1, 2, 10, 20, 100, 200])
        XCTAssertEqual(try a.tensor("k").gradArray, [10, 20])
        a.zeroGrad()
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.grad, count: 6)), [0, 0, 0, 0, 0, 0])
    }

    func testGradNormAndClipping() throws {
        let a = try ParameterArena(layout: [("w", [1, 2]), ("b", [1])])
        a.grad[0] = 3; a.grad[1] = 4; a.grad[2] = 12            // sqrt(9 + 16 + 144) = 13
        XCTAssertEqual(a.gradNorm(), 13, accuracy: 1e-6)
        XCTAssertEqual(a.clipGradNorm(maxNorm: 20), 13, accuracy: 1e-6)   // below the limit: untouched
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.grad, count: 3)), [3, 4, 12])
        XCTAssertEqual(a.clipGradNorm(maxNorm: 6.5), 13, accuracy: 1e-6)  // returns the pre-clip norm
        let g = Array(UnsafeBufferPointer(start: a.grad, count: 3))
        for (x, e) in zip(g, [1.5, 2, 6] as [Float]) { XCTAssertEqual(x, e, accuracy: 1e-6) }
        XCTAssertEqual(a.gradNorm(), 6.5, accuracy: 1e-5)
        XCTAssertEqual(a.clipGradNorm(maxNorm: 0), 6.5, accuracy: 1e-5)  // 0 disables clipping
        XCTAssertEqual(a.gradNorm(), 6.5, accuracy: 1e-5)
    }

    func testGradNormOverManyBlocksMatchesDouble() throws {
        let a = try ParameterArena(layout: [("big", [3, 70_001]), ("small", [5])])
        var rng = RNG(seed: 1)
        var ref = 0.0
        for i in 0..<a.count { a.grad[i] = rng.normal(); ref += Double(a.grad[i]) * Double(a.grad[i]) }
        XCTAssertEqual(Double(a.gradNorm()), ref.squareRoot(), accuracy: 1e-6 * ref.squareRoot())
        let pre = a.clipGradNorm(maxNorm: 1)
        XCTAssertEqual(Double(pre), ref.squareRoot(), accuracy: 1e-6 * ref.squareRoot())
        XCTAssertEqual(a.gradNorm(), 1, accuracy: 1e-5)
    }

    func testGradsAreFiniteDetectsNaNAndInf() throws {
        let a = try ParameterArena(layout: [("big", [200_000]), ("b", [3])])
        a.grad[7] = 1e30
        XCTAssertTrue(a.gradsAreFinite)
        a.grad[a.count - 1] = .nan
        XCTAssertFalse(a.gradsAreFinite)
        XCTAssertTrue(a.gradNorm().isNaN)
        let before = a.grad[7]
        XCTAssertTrue(a.clipGradNorm(maxNorm: 1).isNaN)   // non-finite norm: grads left alone
        XCTAssertEqual(a.grad[7], before)
        a.grad[a.count - 1] = 0
        a.grad[150_000] = -.infinity
        XCTAssertFalse(a.gradsAreFinite)
        a.grad[150_000] = .greatestFiniteMagnitude
        XCTAssertTrue(a.gradsAreFinite)
    }

    func testFillAndFillNormal() throws {
        let a = try ParameterArena(layout: [("w", [100, 100]), ("g", [7])])
        try a.fill("g", value: 1)
        XCTAssertEqual(try a.tensor("g").array, [Float](repeating: 1, count: 7))
        var r1 = RNG(seed: 5)
        try a.fillNormal("w", std: 0.02, rng: &r1)
        let w = try a.tensor("w").array
        let mean = w.reduce(0.0) { $0 + Double($1) } / Double(w.count)
        let std = (w.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(w.count)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.001)
        XCTAssertEqual(std, 0.02, accuracy: 0.001)
        XCTAssertEqual(try a.tensor("g").array, [Float](repeating: 1, count: 7))   // neighbours untouched
        var r2 = RNG(seed: 5)
        let b = try ParameterArena(layout: [("w", [100, 100])])
        try b.fillNormal("w", std: 0.02, rng: &r2)
        XCTAssertEqual(try b.tensor("w").array, w)
        XCTAssertThrowsError(try a.fillNormal("w", std: -1, rng: &r2))
        XCTAssertThrowsError(try a.fill("nope", value: 0))
    }
}
