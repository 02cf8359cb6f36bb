import XCTest
@testable import Tensor

final class AdamWTests: XCTestCase {
    /// torch.optim.AdamW for one scalar parameter, written out in Double:
    /// p *= 1 - lr*wd (if decayed); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
    /// p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
    func reference(p0: Double, grads: [Double], lr: Double, b1: Double, b2: Double, eps: Double, wd: Double,
                   decay: Bool) -> [Double] {
        var p = p0, m = 0.0, v = 0.0
        var after: [Double] = []
        for (k, g) in grads.enumerated() {
            let t = Double(k + 1)
            if decay { p *= 1 - lr * wd }
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            let mHat = m / (1 - pow(b1, t)), vHat = v / (1 - pow(b2, t))
            p -= lr * mHat / (vHat.squareRoot() + eps)
            after.append(p)
        }
        return after
    }

    func testTwoStepsByHand() throws {
        // "b" is a vector (no decay by default), "w" a matrix (decayed)
        let a = try ParameterArena(layout: [("b", [2]), ("w", [2, 2])])
        // The optimizer holds Float hyper-parameters, so the Double reference uses exactly those values
        // (Float(0.999) = 0.99899995..., which moves 1 - beta2 by 5e-5 relative: visible at 1e-6 tolerance).
        let h: (Float, Float, Float, Float, Float) = (0.1, 0.9, 0.999, 1e-8, 0.1)
        let (lr, b1, b2, eps, wd) = (Double(h.0), Double(h.1), Double(h.2), Double(h.3), Double(h.4))
        let opt = AdamW(arena: a, lr: h.0, beta1: h.1, beta2: h.2, eps: h.3, weightDecay: h.4)
        let p0: [Double] = [0.5, -1.0, 2.0, -0.25, 0.0, 1.5]
        // step-1 and step-2 gradients; 1e-6 is small enough that eps visibly matters
        let g1: [Double] = [0.2, -3.0, 1e-6, 0.5, -0.1, 0.0]
        let g2: [Double] = [-0.4, -1.0, 2e-6, 0.5, 0.3, 1.0]
        for i in 0..<6 { a.data[i] = Float(p0[i]) }

        for i in 0..<6 { a.grad[i] = Float(g1[i]) }
        opt.update()
        XCTAssertEqual(opt.step, 1)
        // Step 1 in closed form: m̂ = g, v̂ = g², so the step is lr * g / (|g| + eps) ≈ lr * sign(g).
        XCTAssertEqual(a.data[0], 0.5 - 0.1, accuracy: 1e-6)                     // b: no decay
        XCTAssertEqual(a.data[1], -1.0 + 0.1, accuracy: 1e-6)
        XCTAssertEqual(a.data[2], Float(2.0 * (1 - lr * wd) - lr * 1e-6 / (1e-6 + eps)), accuracy: 1e-6)  // w: decayed
        XCTAssertEqual(a.data[5], 1.5 * 0.99, accuracy: 1e-6)                      // zero grad: only the decay

        for i in 0..<6 { a.grad[i] = Float(g2[i]) }
        opt.update()
        XCTAssertEqual(opt.step, 2)
        for i in 0..<6 {
            let expected = reference(p0: p0[i], grads: [g1[i], g2[i]], lr: lr, b1: b1, b2: b2, eps: eps, wd: wd,
                                     decay: i >= 2)
            XCTAssertEqual(Double(a.data[i]), expected[1], accuracy: 1e-6 * max(1, abs(expected[1])), "element \(i)")
        }
        // the moments are the plain (uncorrected) running averages
        XCTAssertEqual(Double(opt.m[3]), b1 * (1 - b1) * 0.5 + (1 - b1) * 0.5, accuracy: 1e-8)     // ≈ 0.095
        XCTAssertEqual(Double(opt.v[1]), b2 * (1 - b2) * 9 + (1 - b2) * 1, accuracy: 1e-9)         // ≈ 0.009991
        // gradients are not consumed
        XCTAssertEqual(a.grad[5], 1)
    }

    /// Many entries alternating decay / no decay, spanning several 16K blocks: every element must follow
    /// the reference with its own entry's decay flag.
    func testLargeArenaWithMixedDecayMatchesReference() throws {
        let layout: [(name: String, shape: [Int])] = [
            ("n0", [3000]), ("w0", [7, 5000]), ("n1", [20_001]), ("w1", [3, 3]), ("w2", [11, 1000]), ("n2", [1]),
        ]
        let a = try ParameterArena(layout: layout)
        let decayed = Set(["w0", "w2"])     // w1 excluded on purpose through the closure
        let opt = AdamW(arena: a, lr: 0.01, weightDecay: 0.5, decays: { decayed.contains($0.name) })
        var rng = RNG(seed: 3)
        var p0: [Double] = [], g1: [Double] = [], g2: [Double] = []
        for i in 0..<a.count { a.data[i] = rng.normal(); p0.append(Double(a.data[i])) }
        for _ in 0..<a.count { g1.append(Double(rng.normal())); g2.append(Double(rng.normal())) }
        for i in 0..<a.count { a.grad[i] = Float(g1[i]) }
        opt.update()
        for i in 0..<a.count { a.grad[i] = Float(g2[i]) }
        opt.update()
        for e in a.entries {
            for i in e.offset..<(e.offset + e.count) {
                let r = reference(p0: p0[i], grads: [g1[i], g2[i]], lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.5,
                                  decay: decayed.contains(e.name))[1]
                if abs(Double(a.data[i]) - r) > 1e-5 * max(1, abs(r)) {
                    XCTFail("\(e.name) element \(i - e.offset): \(a.data[i]) vs \(r)"); return
                }
            }
        }
    }

    func testResumeFromSavedStateMatchesUninterruptedRun() throws {
        func makeArena() throws -> ParameterArena {
            let a = try ParameterArena(layout: [("w", [4, 3]), ("g", [3])])
            for i in 0..<a.count { a.data[i] = Float(i) * 0.1 - 0.5 }
            return a
        }
        func setGrads(_ a: ParameterArena, _ s: Int) { for i in 0..<a.count { a.grad[i] = sin(Float(i * 7 + s)) } }
        let a = try makeArena()
        let full = AdamW(arena: a, lr: 0.05, weightDecay: 0.1)
        for s in 0..<3 { setGrads(a, s); full.update() }

        let b = try makeArena()
        let first = AdamW(arena: b, lr: 0.05, weightDecay: 0.1)
        setGrads(b, 0); first.update()
        let saved = (step: first.step, m: Array(UnsafeBufferPointer(start: first.m, count: b.count)),
                     v: Array(UnsafeBufferPointer(start: first.v, count: b.count)))
        let resumed = AdamW(arena: b, lr: 0.05, weightDecay: 0.1)
        try resumed.loadState(step: saved.step, m: saved.m, v: saved.v)
        for s in 1..<3 { setGrads(b, s); resumed.update() }
        XCTAssertEqual(resumed.step, 3)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.data, count: a.count)),
                       Array(UnsafeBufferPointer(start: b.data, count: b.count)))
    }

    /// clipAndUpdate(maxNorm:) reports the pre-clip norm, clips, updates; a non-finite gradient changes nothing.
    func testStepClipsAndSkipsNonFiniteGradients() throws {
        let a = try ParameterArena(layout: [("w", [2, 2])])
        for i in 0..<4 { a.data[i] = 1 }
        let opt = AdamW(arena: a, lr: 0.1, weightDecay: 0)
        a.grad[0] = 3; a.grad[1] = 4; a.grad[2] = 0; a.grad[3] = 0
        let (norm, applied) = opt.clipAndUpdate(maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertTrue(applied)
        XCTAssertEqual(a.grad[0], 0.6, accuracy: 1e-6, "clipped to norm 1 before the update")
        XCTAssertEqual(opt.step, 1)
        let before = (0..<4).map { a.data[$0] }
        a.grad[1] = .nan
        let skipped = opt.clipAndUpdate(maxNorm: 1)
        XCTAssertFalse(skipped.applied)
        XCTAssertTrue(skipped.preClipNorm.isNaN)
        XCTAssertEqual((0..<4).map { a.data[$0] }, before, "a non-finite gradient never reaches the weights")
        XCTAssertEqual(opt.step, 1)
    }

    func testLoadStateRejectsWrongSizes() throws {
        let a = try ParameterArena(layout: [("w", [2, 2])])
        let opt = AdamW(arena: a)
        XCTAssertThrowsError(try opt.loadState(step: 1, m: [0, 0, 0], v: [0, 0, 0, 0])) { e in
            XCTAssertTrue("\(e)".contains("the arena has 4"), "\(e)")
        }
        XCTAssertThrowsError(try opt.loadState(step: -1, m: [0, 0, 0, 0], v: [0, 0, 0, 0]))
        XCTAssertEqual(opt.step, 0)
    }
}
