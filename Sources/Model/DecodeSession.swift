import Foundation
import Tensor

/// Batched incremental inference with a KV cache. Each slot holds one sequence with its own length; one
/// `feed` call appends tokens to any number of slots at once (a prefill is several tokens for one slot,
/// a decode step is one token for each live slot) and returns logits only after each item's last token.
///
/// Cache layout per layer: K and V are [slots, maxLen, D]; a row (slot, pos) sees positions 0...pos of its
/// own slot only, so sequences of different lengths never interact and need no padding.
public final class DecodeSession {
    public let policy: Policy
    public let slots: Int
    public let maxLen: Int
    public private(set) var lengths: [Int]
    private let keys: [UnsafeMutablePointer<Float>]
    private let values: [UnsafeMutablePointer<Float>]
    private let rope: RopeTable
    private var scratch = Scratch()

    public init(policy: Policy, slots: Int, maxLen: Int) throws {
        let c = policy.config
        guard slots > 0, maxLen > 0 else { throw TensorError("DecodeSession needs slots > 0 and maxLen > 0") }
        self.policy = policy
        self.slots = slots
        self.maxLen = maxLen
        lengths = [Int](repeating: 0, count: slots)
        let n = slots * maxLen * c.dim
        keys = (0..<c.layers).map { _ in .allocate(capacity: n) }
        values = (0..<c.layers).map { _ in .allocate(capacity: n) }
        rope = RopeTable(headDim: c.headDim, maxLen: maxLen, theta: c.ropeTheta)
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    /// Forgets a slot's sequence so it can hold a new one.
    public func reset(_ slot: Int) { lengths[slot] = 0 }

    /// Appends each item's tokens to its slot and returns logits [items.count, V] (row i = after the last
    /// token of item i). A slot may appear at most once per call.
    public func feed(_ items: [(slot: Int, tokens: [Int32])]) throws -> [Float] {
        let c = policy.config, d = c.dim, f = c.ffn, v = c.vocab
        var rowSlot: [Int] = [], rowPos: [Int] = [], rowToken: [Int32] = [], lastRow: [Int] = []
        var seen = Set<Int>()
        for item in items {
            guard item.slot >= 0, item.slot < slots, seen.insert(item.slot).inserted else {
                throw TensorError("DecodeSession.feed: slot \(item.slot) is out of range 0..<\(slots) or repeated")
            }
            guard !item.tokens.isEmpty else { throw TensorError("DecodeSession.feed: empty token list for slot \(item.slot)") }
            guard lengths[item.slot] + item.tokens.count <= maxLen else {
                throw TensorError("DecodeSession.feed: slot \(item.slot) would exceed its cache of \(maxLen) positions")
            }
            for (j, t) in item.tokens.enumerated() {
                guard t >= 0, Int(t) < v else { throw TensorError("DecodeSession.feed: token id \(t) outside 0..<\(v)") }
                rowSlot.append(item.slot); rowPos.append(lengths[item.slot] + j); rowToken.append(t)
            }
            lastRow.append(rowSlot.count - 1)
        }
        let n = rowSlot.count
        scratch.reserve(rows: n, dim: d, ffn: f)
        let x = scratch.x, h = scratch.h, qkv = scratch.qkv, att = scratch.att, gu = scratch.gu
        for r in 0..<n { (x + r * d).update(from: policy.embed.data + Int(rowToken[r]) * d, count: d) }

        for (li, l) in policy.layers.enumerated() {
            rmsNormRows(x, weight: l.inputNorm.data, out: h, rows: n, dim: d, eps: c.normEps)
            Kernels.sgemm(transA: false, transB: true, m: n, n: 3 * d, k: d, a: h, lda: d, b: l.qkv.data, ldb: d,
                          beta: 0, c: qkv, ldc: 3 * d)
            let kc = keys[li], vc = values[li]
            for r in 0..<n {
                let row = qkv + r * 3 * d
                rope.rotate(row, heads: c.heads, position: rowPos[r])            // q
                rope.rotate(row + d, heads: c.heads, position: rowPos[r])        // k
                let at = (rowSlot[r] * maxLen + rowPos[r]) * d
                (kc + at).update(from: row + d, count: d)
                (vc + at).update(from: row + 2 * d, count: d)
            }
            attend(qkv: qkv, out: att, rows: n, rowSlot: rowSlot, rowPos: rowPos, keys: kc, values: vc)
            // x += att Woᵀ (the residual add is BLAS's beta = 1)
            Kernels.sgemm(transA: false, transB: true, m: n, n: d, k: d, a: att, lda: d, b: l.o.data, ldb: d,
                          beta: 1, c: x, ldc: d)
            rmsNormRows(x, weight: l.postNorm.data, out: h, rows: n, dim: d, eps: c.normEps)
            // gate and up are adjacent in the arena: one [N, 2F] product
            Kernels.sgemm(transA: false, transB: true, m: n, n: 2 * f, k: d, a: h, lda: d, b: l.gate.data, ldb: d,
                          beta: 0, c: gu, ldc: 2 * f)
            for r in 0..<n {
                let g = gu + r * 2 * f, u = g + f
                for j in 0..<f { let s = g[j]; g[j] = s / (1 + expf(-s)) * u[j] }
            }
            Kernels.sgemm(transA: false, transB: true, m: n, n: d, k: f, a: gu, lda: 2 * f, b: l.down.data, ldb: f,
                          beta: 1, c: x, ldc: d)
        }
        for r in 0..<n { lengths[rowSlot[r]] = max(lengths[rowSlot[r]], rowPos[r] + 1) }

        // Final norm and head only for the rows whose logits are wanted.
        let m = lastRow.count
        for (i, r) in lastRow.enumerated() {
            rmsNormRows(x + r * d, weight: policy.finalNorm.data, out: h + i * d, rows: 1, dim: d, eps: c.normEps)
        }
        var logits = [Float](repeating: 0, count: m * v)
        logits.withUnsafeMutableBufferPointer { lp in
            Kernels.sgemm(transA: false, transB: true, m: m, n: v, k: d, a: h, lda: d, b: policy.head.data, ldb: d,
                          beta: 0, c: lp.baseAddress!, ldc: v)
        }
        return logits
    }

    /// out[r, head] = softmax(q·K[0...pos] / sqrt(hd)) V[0...pos] within row r's slot; parallel over (row, head).
    private func attend(qkv: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, rows n: Int,
                        rowSlot: [Int], rowPos: [Int], keys: UnsafeMutablePointer<Float>,
                        values: UnsafeMutablePointer<Float>) {
        let c = policy.config, d = c.dim, hd = c.headDim, heads = c.heads, maxLen = maxLen
        let scale = 1 / Float(hd).squareRoot()
        rowSlot.withUnsafeBufferPointer { slotOf in
            rowPos.withUnsafeBufferPointer { posOf in
                parallelFor(n * heads, minChunk: 4) { range in
                    let p = UnsafeMutablePointer<Float>.allocate(capacity: maxLen)
                    defer { p.deallocate() }
                    for job in range {
                        let r = job / heads, hh = job % heads
                        let q = qkv + r * 3 * d + hh * hd
                        let base = slotOf[r] * maxLen * d + hh * hd
                        let len = posOf[r] + 1
                        var mx = -Float.infinity
                        for t in 0..<len {
                            let s = dot(q, keys + base + t * d, hd) * scale
                            p[t] = s
                            mx = max(mx, s)
                        }
                        var sum: Float = 0
                        for t in 0..<len { let e = expf(p[t] - mx); p[t] = e; sum += e }
                        let o = out + r * d + hh * hd
                        o.update(repeating: 0, count: hd)
                        let inv = 1 / sum
                        for t in 0..<len { axpy(p[t] * inv, values + base + t * d, o, hd) }
                    }
                }
            }
        }
    }
}

/// Growable scratch buffers for a feed call.
private struct Scratch {
    var rows = 0
    var x = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var h = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var qkv = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var att = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var gu = UnsafeMutablePointer<Float>.allocate(capacity: 1)

    mutating func reserve(rows n: Int, dim d: Int, ffn f: Int) {
        guard n > rows else { return }
        for p in [x, h, qkv, att, gu] { p.deallocate() }
        x = .allocate(capacity: n * d); h = .allocate(capacity: n * d); qkv = .allocate(capacity: n * 3 * d)
        att = .allocate(capacity: n * d); gu = .allocate(capacity: n * 2 * f)
        rows = n
    }
}

/// cos/sin of position * inv_freq in the Hugging Face Llama convention (rotate_half over the two halves).
struct RopeTable {
    let half: Int
    let cos: [Float], sin: [Float]    // [maxLen, half]

    init(headDim: Int, maxLen: Int, theta: Float) {
        half = headDim / 2
        var c = [Float](repeating: 0, count: maxLen * half), s = c
        for i in 0..<half {
            let invFreq = 1 / powf(theta, Float(2 * i) / Float(headDim))
            for p in 0..<maxLen {
                let a = Float(p) * invFreq
                c[p * half + i] = cosf(a); s[p * half + i] = sinf(a)
            }
        }
        cos = c; sin = s
    }

    /// Rotates `heads` consecutive head vectors starting at x, all at one position.
    func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, position p: Int) {
        let hd = 2 * half
        cos.withUnsafeBufferPointer { cb in
            sin.withUnsafeBufferPointer { sb in
                let c = cb.baseAddress! + p * half, s = sb.baseAddress! + p * half
                for h in 0..<heads {
                    let v = x + h * hd
                    for i in 0..<half {
                        let a = v[i], b = v[i + half]
                        v[i] = a * c[i] - b * s[i]
                        v[i + half] = b * c[i] + a * s[i]
                    }
                }
            }
        }
    }
}

@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var acc = SIMD8<Float>()
    while i + 8 <= n {
        let va = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
        let vb = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        acc.addProduct(va, vb)
        i += 8
    }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// y += alpha * x
@inline(__always)
func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    let va = SIMD8<Float>(repeating: alpha)
    while i + 8 <= n {
        var vy = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
        vy.addProduct(va, UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self))
        UnsafeMutableRawPointer(y + i).storeBytes(of: vy, as: SIMD8<Float>.self)
        i += 8
    }
    while i < n { y[i] += alpha * x[i]; i += 1 }
}

/// out[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * w, row by row.
func rmsNormRows(_ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                 rows: Int, dim d: Int, eps: Float) {
    for r in 0..<rows {
        let xr = x + r * d, o = out + r * d
        let rstd = 1 / (dot(xr, xr, d) / Float(d) + eps).squareRoot()
        for j in 0..<d { o[j] = xr[j] * rstd * w[j] }
    }
}
