import Foundation

/// AdamW over a whole `ParameterArena` with PyTorch's semantics (torch.optim.AdamW, amsgrad=False):
///
///     p  = p * (1 - lr * wd)                 (only on decayed entries)
///     m  = b1 * m + (1 - b1) * g
///     v  = b2 * v + (1 - b2) * g²
///     p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
///
/// The moments are two flat buffers of `arena.count` floats, so one step is a single loop over the arena.
public final class AdamW {
    public var lr: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    /// Number of updates done so far (t of the bias correction is step after the increment).
    public private(set) var step: Int = 0
    /// First and second moments, `arena.count` floats each, zero-initialised.
    public let m: UnsafeMutablePointer<Float>
    public let v: UnsafeMutablePointer<Float>

    private let arena: ParameterArena
    /// Maximal runs of adjacent entries with the same decay flag, in offset order.
    private let segments: [(start: Int, end: Int, decay: Bool)]

    /// `decays` picks the entries that get weight decay; by default matrices yes, vectors (norm gains) no.
    public init(arena: ParameterArena, lr: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8,
                weightDecay: Float = 0.0, decays: (ParameterArena.Entry) -> Bool = { $0.shape.count >= 2 }) {
        self.arena = arena
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        let n = max(arena.count, 1)
        m = .allocate(capacity: n); m.initialize(repeating: 0, count: n)
        v = .allocate(capacity: n); v.initialize(repeating: 0, count: n)
        var segs: [(start: Int, end: Int, decay: Bool)] = []
        for e in arena.entries {
            let d = decays(e)
            if let last = segs.last, last.decay == d, last.end == e.offset {
                segs[segs.count - 1].end = e.offset + e.count
            } else {
                segs.append((e.offset, e.offset + e.count, d))
            }
        }
        segments = segs
    }

    deinit {
        m.deallocate()
        v.deallocate()
    }

    /// The end of every trainer's optimizer step: the gradient norm before clipping (the figure to log),
    /// then clip-by-global-norm and an update, but only when every gradient is finite: a non-finite
    /// gradient never reaches the weights. Returns the pre-clip norm and whether the update ran.
    @discardableResult
    public func clipAndUpdate(maxNorm: Float) -> (preClipNorm: Float, applied: Bool) {
        let norm = arena.clipGradNorm(maxNorm: maxNorm)   // untouched when not finite
        guard norm.isFinite else { return (norm, false) }
        update()
        return (norm, true)
    }

    /// One optimizer step over the whole arena, reading `arena.grad`. Gradients are left as they are.
    public func update() {
        step += 1
        let t = Double(step)
        let b1 = beta1, b2 = beta2, e = eps
        let stepSize = Float(Double(lr) / (1 - pow(Double(beta1), t)))
        let sqrtBC2 = Float((1 - pow(Double(beta2), t)).squareRoot())
        let keep = 1 - lr * weightDecay
        let p = arena.data, g = arena.grad, m = m, v = v, segs = segments
        let n = arena.count, block = 1 << 14
        let blocks = (n + block - 1) / block
        parallelFor(blocks) { r in
            let lo = r.lowerBound * block, hi = min(n, r.upperBound * block)
            // first segment that ends after lo (segments are sorted and contiguous)
            var s = 0, top = segs.count
            while s < top { let mid = (s + top) / 2; if segs[mid].end <= lo { s = mid + 1 } else { top = mid } }
            var i = lo
            while i < hi {
                let seg = segs[s]
                let end = min(hi, seg.end)
                let decay: Float = seg.decay ? keep : 1
                for j in i..<end {
                    let gj = g[j]
                    let mj = b1 * m[j] + (1 - b1) * gj
                    let vj = b2 * v[j] + (1 - b2) * gj * gj
                    m[j] = mj
                    v[j] = vj
                    p[j] = p[j] * decay - stepSize * mj / (vj.squareRoot() / sqrtBC2 + e)
                }
                i = end
                s += 1
            }
        }
    }

    /// Restores the optimizer for a resumed run: `step` updates done, moments `m` and `v` (arena.count each).
    public func loadState(step: Int, m: [Float], v: [Float]) throws {
        try check(step >= 0, "AdamW.loadState: step must be >= 0, got \(step)")
        try check(m.count == arena.count && v.count == arena.count,
                  "AdamW.loadState: moments have \(m.count) and \(v.count) floats, the arena has \(arena.count)")
        if arena.count > 0 {
            m.withUnsafeBufferPointer { self.m.update(from: $0.baseAddress!, count: arena.count) }
            v.withUnsafeBufferPointer { self.v.update(from: $0.baseAddress!, count: arena.count) }
        }
        self.step = step
    }
}
