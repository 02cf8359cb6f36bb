import Foundation
#if arch(x86_64)
import TensorAVX512
#endif

/// A weight matrix W [outDim, inDim] laid out for decode steps, in bf16 or fp32. A decode step multiplies a
/// few rows by every weight once, so it is bound by how fast the weights stream: the panel order reads them
/// front to back, one stream per worker (W in place is 12 strided row streams a tile), and bf16 halves the
/// bytes (rounded to nearest even; the products are exactly those of the rounded weights, summed in fp32).
///
/// Panel p holds features 16p..<16p+16 (zero past outDim) as `steps` vectors of 16 32-bit words:
/// - bf16: [kPairs][16] words; word j of pair kp is feature j at k = 2kp (low half) and at k = 2kp + 1 (high
///   half; zero past inDim).
/// - fp32: [inDim][16] floats; float j of step k is feature j at k.
public final class PanelMatrix {
    public let outDim: Int, inDim: Int
    /// bf16 or fp32.
    public let format: NumberFormat
    /// Panels; 64-byte loads per panel; rows of xt a tile reads (inDim rounded up to whole steps).
    let panels: Int, steps: Int, kRows: Int
    private let storage: UnsafeMutablePointer<UInt32>

    public init(outDim: Int, inDim: Int, format: NumberFormat = .bf16) throws {
        guard outDim > 0, inDim > 0 else { throw TensorError("PanelMatrix needs outDim > 0 and inDim > 0") }
        guard format != .fp16 else { throw TensorError("PanelMatrix holds bf16 or fp32 weights, not fp16") }
        self.outDim = outDim; self.inDim = inDim; self.format = format
        panels = (outDim + 15) / 16
        steps = format == .bf16 ? (inDim + 1) / 2 : inDim
        kRows = format == .bf16 ? 2 * steps : steps
        storage = UnsafeMutableRawPointer.allocate(byteCount: panels * steps * 64, alignment: 64)
            .bindMemory(to: UInt32.self, capacity: panels * steps * 16)
    }

    deinit { storage.deallocate() }

    /// Bytes a product streams.
    public var byteCount: Int { panels * steps * 64 }

    /// Copies W [outDim, inDim] (row-major) in, rounded to the format (`NumberFormat`): full panels 16 x 16
    /// values at a time through `transpose16`, the rest value by value.
    public func fill(from w: UnsafePointer<Float>) {
        let outDim = outDim, inDim = inDim, steps = steps, storage = storage, bf16 = format == .bf16
        @inline(__always) func bits(_ x: Float) -> UInt32 { NumberFormat.bf16.round(x).bitPattern >> 16 }
        @inline(__always) func words(_ p: UnsafePointer<Float>) -> SIMD16<UInt32> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt32>.self) }
        parallelFor(panels) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { buffer in
                let t = buffer.baseAddress!
                for p in range {
                    let dst = storage + p * steps * 16, n0 = 16 * p
                    var k0 = 0
                    if n0 + 16 <= outDim {
                        while k0 + 16 <= inDim {   // t[k * 16 + j] = W[n0 + j, k0 + k]
                            Self.transpose16(w + n0 * inDim + k0, lda: inDim, t)
                            if !bf16 {   // the panel's words are t as it is
                                UnsafeMutableRawPointer(dst + k0 * 16).copyMemory(from: t, byteCount: 1024)
                                k0 += 16
                                continue
                            }
                            NumberFormat.bf16.round(t, count: 256)
                            for k in stride(from: 0, to: 16, by: 2) {
                                let word = words(t + k * 16) &>> 16 | words(t + (k + 1) * 16) & 0xFFFF_0000
                                UnsafeMutableRawPointer(dst + (k0 + k) / 2 * 16).storeBytes(of: word, as: SIMD16<UInt32>.self)
                            }
                            k0 += 16
                        }
                    }
                    for j in 0..<16 {
                        let n = n0 + j, row = w + n * inDim
                        if !bf16 {
                            for k in k0..<inDim { dst[k * 16 + j] = n < outDim ? row[k].bitPattern : 0 }
                            continue
                        }
                        @inline(__always) func half(_ k: Int) -> UInt32 { n < outDim && k < inDim ? bits(row[k]) : 0 }
                        for kp in (k0 / 2)..<steps { dst[kp * 16 + j] = half(2 * kp) | half(2 * kp + 1) << 16 }
                    }
                }
            }
        }
    }

    /// out[rows, outDim] = x[rows, inDim] Wᵀ + beta * out (x with row stride lda; beta 0 ignores out's old
    /// contents). Parallel over panels; each panel meets every 16-row block of a chunk of x while it is in
    /// cache, and the chunk's transposed rows (at most `chunkBytes`) stay in L2 for all the panels.
    public func linear(x: UnsafePointer<Float>, lda: Int, out: UnsafeMutablePointer<Float>, rows: Int, beta: Float) {
        if rows <= 0 { return }
        let outDim = outDim, inDim = inDim, kRows = kRows, blocks = (rows + 15) / 16, blockSize = kRows * 16
        // xt[b][k][r] = x[16 b + r, k]; rows past `rows` and k past inDim are zero.
        let xt = UnsafeMutablePointer<Float>.allocate(capacity: blocks * blockSize)
        defer { xt.deallocate() }
        let transpose = { (range: Range<Int>) in
            for b in range {
                let xb = xt + b * blockSize, r0 = 16 * b, nr = min(16, rows - r0)
                var k0 = 0
                if nr == 16 {
                    while k0 + 16 <= inDim { Self.transpose16(x + r0 * lda + k0, lda: lda, xb + k0 * 16); k0 += 16 }
                }
                for k in k0..<inDim {
                    let xk = x + r0 * lda + k, o = xb + k * 16
                    for r in 0..<nr { o[r] = xk[r * lda] }
                    for r in nr..<16 { o[r] = 0 }
                }
                (xb + inDim * 16).update(repeating: 0, count: (kRows - inDim) * 16)
            }
        }
        parallelFor(blocks, transpose)   // inline for one block
        let chunk = max(1, Self.chunkBytes / (blockSize * 4))
        let runPanels = { (range: Range<Int>) in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { buffer in
                let tile = buffer.baseAddress!
                for b0 in stride(from: 0, to: blocks, by: chunk) {
                    for p in range {
                        let n0 = 16 * p, nb = min(16, outDim - n0)
                        for b in b0..<min(b0 + chunk, blocks) {
                            self.tile(xt: xt + b * blockSize, panel: p, tile: tile)
                            for r in 0..<min(16, rows - 16 * b) {
                                let o = out + (16 * b + r) * outDim + n0, t = tile + r * 16
                                if beta == 0 {
                                    for j in 0..<nb { o[j] = t[j] }
                                } else {
                                    for j in 0..<nb { o[j] = t[j] + beta * o[j] }
                                }
                            }
                        }
                    }
                }
            }
        }
        Kernels.forEachUnit(panels, macsPerUnit: 16 * 16 * blocks * kRows, runPanels)
    }

    /// o[k * 16 + r] = x[r * lda + k] for r, k in 0..<16. Row-major, the 256 values sit at index 16r + k; taking
    /// the even values, then the odd ones, rotates that index's 8 bits right by one, and four such rounds give
    /// 16k + r. (Element by element, a decode step's transposes were 3% of its time.)
    @inline(__always)
    private static func transpose16(_ x: UnsafePointer<Float>, lda: Int, _ o: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 32) { buffer in
            var a = buffer.baseAddress!, b = a + 16
            for r in 0..<16 { a[r] = UnsafeRawPointer(x + r * lda).loadUnaligned(as: SIMD16<Float>.self) }
            for _ in 0..<4 {
                for n in 0..<8 {
                    let pair = SIMD32(lowHalf: a[2 * n], highHalf: a[2 * n + 1])
                    b[n] = pair.evenHalf; b[8 + n] = pair.oddHalf
                }
                swap(&a, &b)
            }
            for k in 0..<16 { UnsafeMutableRawPointer(o + 16 * k).storeBytes(of: a[k], as: SIMD16<Float>.self) }
        }
    }

    /// Transposed rows of x one pass over the panels reads (a prefill of 512 rows of a 1536-wide input is 3 MB,
    /// more than an L2; the panels are read again for each chunk).
    static let chunkBytes = 512 << 10

    /// tile[r * 16 + j] = sum_k xt[k * 16 + r] W[16 p + j, k] for one 16-row block.
    @inline(__always)
    private func tile(xt: UnsafePointer<Float>, panel p: Int, tile: UnsafeMutablePointer<Float>) {
        let at = UnsafeRawPointer(storage + p * steps * 16), bf16 = format == .bf16
        #if arch(x86_64)
        if Kernels.useAVX512 {
            panelTile16x16(xt: xt, panel: at, steps: steps, bf16: bf16, tile: tile)
            return
        }
        #endif
        // Portable (AVX2 and others): 4 rows at a time, 16 features per vector.
        let t = UnsafeMutableRawPointer(tile)
        for r0 in stride(from: 0, to: 16, by: 4) {
            var a0 = SIMD16<Float>(), a1 = a0, a2 = a0, a3 = a0
            @inline(__always) func step(_ w: SIMD16<Float>, _ x: UnsafePointer<Float>) {
                a0.addProduct(w, SIMD16(repeating: x[0])); a1.addProduct(w, SIMD16(repeating: x[1]))
                a2.addProduct(w, SIMD16(repeating: x[2])); a3.addProduct(w, SIMD16(repeating: x[3]))
            }
            if bf16 {
                for kp in 0..<steps {
                    let v = at.load(fromByteOffset: kp * 64, as: SIMD16<UInt32>.self), x = xt + 32 * kp + r0
                    step(unsafeBitCast(v &<< 16, to: SIMD16<Float>.self), x)
                    step(unsafeBitCast(v & 0xFFFF_0000, to: SIMD16<Float>.self), x + 16)
                }
            } else {
                for k in 0..<steps { step(at.load(fromByteOffset: k * 64, as: SIMD16<Float>.self), xt + 16 * k + r0) }
            }
            t.storeBytes(of: a0, toByteOffset: r0 * 64, as: SIMD16<Float>.self)
            t.storeBytes(of: a1, toByteOffset: (r0 + 1) * 64, as: SIMD16<Float>.self)
            t.storeBytes(of: a2, toByteOffset: (r0 + 2) * 64, as: SIMD16<Float>.self)
            t.storeBytes(of: a3, toByteOffset: (r0 + 3) * 64, as: SIMD16<Float>.self)
        }
    }
}
