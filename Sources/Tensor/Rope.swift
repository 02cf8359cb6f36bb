import Foundation

// Rotary position embedding, Hugging Face Llama "rotate_half" convention (not interleaved): a head vector
// x of size hd is split into halves, and pair (x[i], x[i+half]) is rotated by angle pos * inv_freq_i.
// Angles follow HF's float32 recipe exactly: inv_freq_i = 1 / theta^(2i/hd) in Float, angle =
// Float(pos) * inv_freq_i rounded to Float, then cos/sin of that Float angle.

/// Llama-3's frequency scaling of RoPE (HF `rope_type: "llama3"`): wavelengths longer than
/// originalContext / lowFreqFactor are stretched by `factor`, shorter than originalContext / highFreqFactor kept,
/// and those between interpolated smoothly.
public struct RopeScaling: Codable, Equatable, Sendable {
    public var factor: Float
    public var lowFreqFactor: Float
    public var highFreqFactor: Float
    public var originalContext: Int

    public init(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalContext: Int) {
        self.factor = factor; self.lowFreqFactor = lowFreqFactor; self.highFreqFactor = highFreqFactor
        self.originalContext = originalContext
    }

    /// HF's `_compute_llama3_parameters`, in Float as torch computes it.
    func apply(_ invFreq: Float) -> Float {
        let old = Float(originalContext)
        let lowWavelen = old / lowFreqFactor, highWavelen = old / highFreqFactor
        let wavelen = 2 * Float.pi / invFreq
        if wavelen < highWavelen { return invFreq }
        if wavelen > lowWavelen { return invFreq / factor }
        let smooth = (old / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
        return (1 - smooth) * invFreq / factor + smooth * invFreq
    }
}

extension Kernels {
    /// HF's float32 inverse frequency of pair i for a head of size headDim, scaled when `scaling` is given.
    @inline(__always)
    static func ropeInvFreq(_ i: Int, headDim: Int, theta: Float, scaling: RopeScaling? = nil) -> Float {
        let f = Float(1 / Foundation.pow(Double(theta), Double(2 * i) / Double(headDim)))
        return scaling.map { $0.apply(f) } ?? f
    }

    /// Fills cos/sin tables [positions, headDim/2] for positions 0..<positions.
    public static func ropeTables(positions: Int, headDim: Int, theta: Float, scaling: RopeScaling? = nil,
                                  cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let half = headDim / 2
        for i in 0..<half {
            let f = ropeInvFreq(i, headDim: headDim, theta: theta, scaling: scaling)
            for p in 0..<positions {
                let a = Float(p) * f
                cos[p * half + i] = Foundation.cos(a)
                sin[p * half + i] = Foundation.sin(a)
            }
        }
    }

    /// Rotates `heads` consecutive head vectors of each row in place, by the row's position, with
    /// precomputed tables [maxPosition+1, headDim/2]. x: rows of stride `rowStride`, heads*headDim used
    /// per row. inverse = true rotates by -angle (the backward / transpose).
    public static func ropeInPlace(x: UnsafeMutablePointer<Float>, rowStride: Int, rows: Int, heads: Int, headDim: Int,
                                   positions: UnsafePointer<Int32>, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>,
                                   inverse: Bool = false) {
        let half = headDim / 2
        parallelFor(rows, minChunk: 16) { r in
            for row in r {
                let c = cos + Int(positions[row]) * half, s = sin + Int(positions[row]) * half
                rotateRow(x + row * rowStride, heads: heads, half: half, cos: c, sin: s, inverse: inverse)
            }
        }
    }

    /// Same as above but computes cos/sin per row on the stack: for decoding, where each row (one live
    /// trajectory) has its own position and the row count is small. Call it on the q section and the k
    /// section of a qkv row (or on both at once: they are adjacent, 2*heads heads).
    public static func ropeInPlace(x: UnsafeMutablePointer<Float>, rowStride: Int, rows: Int, heads: Int, headDim: Int,
                                   positions: UnsafePointer<Int32>, theta: Float, inverse: Bool = false) {
        let half = headDim / 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * max(half, 1)) { buf in
            let c = buf.baseAddress!, s = c + half
            for row in 0..<rows {
                let p = Float(positions[row])
                for i in 0..<half {
                    let a = p * ropeInvFreq(i, headDim: headDim, theta: theta)
                    c[i] = Foundation.cos(a)
                    s[i] = Foundation.sin(a)
                }
                rotateRow(x + row * rowStride, heads: heads, half: half, cos: c, sin: s, inverse: inverse)
            }
        }
    }

    /// out[i] = x[i] c - x[i+h] s, out[i+h] = x[i+h] c + x[i] s for each head (s negated if inverse).
    @inline(__always)
    static func rotateRow(_ x: UnsafeMutablePointer<Float>, heads: Int, half: Int, cos: UnsafePointer<Float>,
                          sin: UnsafePointer<Float>, inverse: Bool) {
        let sign: Float = inverse ? -1 : 1
        for h in 0..<heads {
            let a = x + h * 2 * half, b = a + half
            for i in 0..<half {
                let c = cos[i], s = sign * sin[i], x1 = a[i], x2 = b[i]
                a[i] = x1 * c - x2 * s
                b[i] = x2 * c + x1 * s
            }
        }
    }
}

/// Rotary embedding of the q and k parts of a fused qkv projection; v passes through unchanged.
/// qkv: [N, (H + 2 KV) hd] (q = H heads, then k = KV heads, then v = KV heads; KV = H without grouped-query
/// attention), positions: N values >= 0 -> same shape. Backward rotates the gradient by -angle.
public func ropeQK(_ qkv: Tensor, positions: [Int32], heads: Int, kvHeads: Int? = nil, theta: Float = 10000,
                   scaling: RopeScaling? = nil) throws -> Tensor {
    let kv = kvHeads ?? heads
    try check(qkv.rank == 2 && heads > 0 && kv > 0 && heads % kv == 0 && qkv.shape[1] % (heads + 2 * kv) == 0,
              "ropeQK needs qkv [N, (heads + 2*kvHeads)*hd], got \(qkv.shape) with heads=\(heads), kvHeads=\(kv)")
    let n = qkv.shape[0], width = qkv.shape[1], hd = width / (heads + 2 * kv)
    try check(hd % 2 == 0 && hd > 0, "ropeQK needs an even head size, got hd=\(hd) (qkv \(qkv.shape), heads=\(heads))")
    try check(positions.count == n, "ropeQK: \(positions.count) positions for \(n) rows")
    try check(theta > 0 && theta.isFinite, "ropeQK: theta must be positive, got \(theta)")
    if let bad = positions.first(where: { $0 < 0 }) { throw TensorError("ropeQK: negative position \(bad)") }
    let maxPos = Int(positions.max() ?? 0), half = hd / 2
    // Tables for positions 0...maxPos: positions repeat across the batch, so this is far fewer trig calls.
    let cosT = Tensor(uninitialized: [maxPos + 1, half]), sinT = Tensor(uninitialized: [maxPos + 1, half])
    Kernels.ropeTables(positions: maxPos + 1, headDim: hd, theta: theta, scaling: scaling, cos: cosT.data, sin: sinT.data)
    let rotated = heads + kv                 // q and k heads are adjacent
    let out = Tensor(uninitialized: qkv.shape)
    positions.withUnsafeBufferPointer { p in
        if n > 0 {
            // Copy and rotate row by row in one parallel pass (the row is still in cache for the rotation).
            let x = qkv.data, o = out.data, c = cosT.data, s = sinT.data
            parallelFor(n, minChunk: 16) { r in
                for row in r {
                    (o + row * width).update(from: x + row * width, count: width)
                    Kernels.rotateRow(o + row * width, heads: rotated, half: half, cos: c + Int(p[row]) * half,
                                      sin: s + Int(p[row]) * half, inverse: false)
                }
            }
        }
    }
    return Tensor.record(out, inputs: [qkv]) { out in
        // dqkv += Rᵀ g: the q and k gradients rotate by -angle, the v gradient passes through.
        let g = out.grad!, (dx, beta) = qkv.gradForFullWrite(), c = cosT.data, s = sinT.data, d = rotated * hd
        positions.withUnsafeBufferPointer { p in
            parallelFor(n, minChunk: 16) { r in
                for row in r {
                    let o = row * width, pc = c + Int(p[row]) * half, ps = s + Int(p[row]) * half
                    if beta == 0 {   // first gradient for qkv: store
                        for h in 0..<rotated {
                            let a = o + h * hd, b = a + half
                            for i in 0..<half {
                                let g1 = g[a + i], g2 = g[b + i]
                                dx[a + i] = g1 * pc[i] + g2 * ps[i]
                                dx[b + i] = g2 * pc[i] - g1 * ps[i]
                            }
                        }
                        (dx + o + d).update(from: g + o + d, count: width - d)
                    } else {
                        for h in 0..<rotated {
                            let a = o + h * hd, b = a + half
                            for i in 0..<half {
                                let g1 = g[a + i], g2 = g[b + i]
                                dx[a + i] += g1 * pc[i] + g2 * ps[i]
                                dx[b + i] += g2 * pc[i] - g1 * ps[i]
                            }
                        }
                        for j in (o + d)..<(o + width) { dx[j] += g[j] }
                    }
                }
            }
        }
    }
}
