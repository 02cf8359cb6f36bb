import Foundation

/// Few-row linear layers for KV-cache decode steps.
///
/// A decode step multiplies a handful of rows (one per live sequence) by every weight matrix. OpenBLAS packs
/// the whole weight matrix B into its own panel layout on every call (`sgemm_incopy`, a large share of a
/// decode profile), which only pays off when many rows reuse the packed panels. Here the few rows are packed
/// instead (x transposed into xt[inDim, rowsPadded], at most 32 x inDim floats) and W is streamed in place:
/// for a block of output features, each step along k broadcasts W[n, k] and multiply-adds it into SIMD8
/// accumulators that hold 8 rows each (an outer-product register block: 6 features x 16 rows, or 12
/// features x 8 rows = 12 accumulators, within AVX2's 16 registers).
extension Kernels {
    /// Rows handled per pass over W; larger row counts are processed in chunks of this many.
    public static let smallRowsChunk = 32

    /// Whether the AVX-512 few-row kernel runs: chosen at run time, so one binary serves AVX2-only and
    /// AVX-512 CPUs. True when this CPU has AVX-512 F/BW/DQ/VL, unless TIR_NO_AVX512=1 forces the AVX2 path.
    /// Set it only at start-up or in tests, while no kernel runs.
    nonisolated(unsafe) public static var useAVX512: Bool = {
        #if arch(x86_64)
        let off = ProcessInfo.processInfo.environment["TIR_NO_AVX512"].map { !$0.isEmpty && $0 != "0" } ?? false
        return CPUFeatures.current.hasAVX512 && !off
        #else
        return false
        #endif
    }()

    /// Decode steps of up to this many rows use `smallRowsLinear`, more use sgemm: the AVX-512 kernel shares
    /// each W slice over 8-row blocks and keeps beating OpenBLAS's packing to 64 rows, the AVX2 tiles to 8.
    public static var smallRowsMax: Int { useAVX512 ? 64 : 8 }

    /// out[rows, outDim] = x[rows, inDim] Wᵀ + beta * out, with W stored [outDim, inDim] row-major (the
    /// Hugging Face layout) and read in place. x has row stride `lda` (>= inDim); out is contiguous.
    /// With beta 0, out is only written (its old contents, even NaN, are ignored). Meant for decode steps:
    /// rows <= 8 with the AVX2 tiles, <= 64 with the AVX-512 one; larger row counts work but `sgemm` is
    /// faster there. Parallel over output features.
    public static func smallRowsLinear(x: UnsafePointer<Float>, lda: Int, w: UnsafePointer<Float>,
                                       out: UnsafeMutablePointer<Float>, rows: Int, outDim: Int, inDim: Int,
                                       beta: Float) {
        if rows <= 0 || outDim <= 0 { return }
        #if arch(x86_64)
        if useAVX512, inDim % 2 == 0 {
            smallRowsLinear512(x: x, lda: lda, w: w, out: out, rows: rows, outDim: outDim, inDim: inDim, beta: beta)
            return
        }
        #endif
        var r0 = 0
        while r0 < rows {   // chunks of at most 32 rows: each chunk streams W once
            let n = min(smallRowsChunk, rows - r0)
            smallRowsChunkLinear(x: x + r0 * lda, lda: lda, w: w, out: out + r0 * outDim, rows: n,
                                 outDim: outDim, inDim: inDim, beta: beta)
            r0 += n
        }
    }

    /// One chunk of rows <= 32. Output features are split into units of 12 (two 6-feature blocks for
    /// 16-row tiles, one 12-feature block for an 8-row tile); workers take contiguous ranges of units.
    private static func smallRowsChunkLinear(x: UnsafePointer<Float>, lda: Int, w: UnsafePointer<Float>,
                                             out: UnsafeMutablePointer<Float>, rows: Int, outDim: Int,
                                             inDim: Int, beta: Float) {
        let rp = (rows + 7) / 8 * 8   // padded row count: xt rows are whole SIMD8 vectors
        let xt = UnsafeMutableRawPointer.allocate(byteCount: max(1, rp * inDim) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(1, rp * inDim))
        defer { xt.deallocate() }
        // xt[k, r] = x[r, k]; padded rows are zero so their (discarded) results stay finite.
        for r in 0..<rows {
            let xr = x + r * lda
            var p = xt + r
            for k in 0..<inDim { p.pointee = xr[k]; p += rp }
        }
        if rp > rows {
            for k in 0..<inDim { (xt + k * rp + rows).update(repeating: 0, count: rp - rows) }
        }
        let units = (outDim + 11) / 12
        let macsPerUnit = 12 * rp * max(1, inDim)
        let runUnits = { (range: Range<Int>) in
            for u in range {
                let n0 = u * 12, nb = min(12, outDim - n0)
                var c0 = 0
                while rp - c0 >= 16 {
                    tile16x6(xt, rp, c0, w, inDim, n0: n0, nb: min(6, nb), out, outDim, rows, beta)
                    if nb > 6 { tile16x6(xt, rp, c0, w, inDim, n0: n0 + 6, nb: nb - 6, out, outDim, rows, beta) }
                    c0 += 16
                }
                if rp - c0 == 8 { tile8x12(xt, rp, c0, w, inDim, n0: n0, nb: nb, out, outDim, rows, beta) }
            }
        }
        forEachUnit(units, macsPerUnit: macsPerUnit, runUnits)
    }

    /// Runs `body` over units 0..<units, split over the workers only above sgemm's threshold (below it a
    /// second worker costs more than it saves) and never from inside a worker.
    static func forEachUnit(_ units: Int, macsPerUnit: Int, _ body: (Range<Int>) -> Void) {
        if units * macsPerUnit < gemmSplitMACs || Threads.count == 1 || Threads.insideWorkers {
            body(0..<units)
        } else {
            parallelFor(units, minChunk: max(1, gemmSplitMACs / (2 * macsPerUnit)), body)
        }
    }

    /// Rows c0..<c0+16 of xt times features n0..<n0+nb (nb <= 6). Feature rows past nb repeat the last
    /// valid one (real memory, results dropped) so every block runs the same 12-accumulator loop.
    @inline(__always)
    private static func tile16x6(_ xt: UnsafePointer<Float>, _ rp: Int, _ c0: Int, _ w: UnsafePointer<Float>,
                                 _ inDim: Int, n0: Int, nb: Int, _ out: UnsafeMutablePointer<Float>,
                                 _ outDim: Int, _ rows: Int, _ beta: Float) {
        let w0 = w + n0 * inDim
        let w1 = w0 + min(1, nb - 1) * inDim, w2 = w0 + min(2, nb - 1) * inDim
        let w3 = w0 + min(3, nb - 1) * inDim, w4 = w0 + min(4, nb - 1) * inDim
        let w5 = w0 + min(5, nb - 1) * inDim
        var acc = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(),
                   SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
        var p = UnsafeRawPointer(xt + c0)
        let stride = rp * 4
        for k in 0..<inDim {
            let xa = p.loadUnaligned(as: SIMD8<Float>.self)
            let xb = p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
            var b = SIMD8<Float>(repeating: w0[k])
            acc.0.addProduct(b, xa); acc.1.addProduct(b, xb)
            b = SIMD8<Float>(repeating: w1[k])
            acc.2.addProduct(b, xa); acc.3.addProduct(b, xb)
            b = SIMD8<Float>(repeating: w2[k])
            acc.4.addProduct(b, xa); acc.5.addProduct(b, xb)
            b = SIMD8<Float>(repeating: w3[k])
            acc.6.addProduct(b, xa); acc.7.addProduct(b, xb)
            b = SIMD8<Float>(repeating: w4[k])
            acc.8.addProduct(b, xa); acc.9.addProduct(b, xb)
            b = SIMD8<Float>(repeating: w5[k])
            acc.10.addProduct(b, xa); acc.11.addProduct(b, xb)
            p += stride
        }
        // acc as floats: feature j, row c at [j * 16 + c].
        withUnsafeBytes(of: &acc) { raw in
            storeTile(raw.baseAddress!.assumingMemoryBound(to: Float.self), width: 16, c0: c0, n0: n0, nb: nb,
                  out, outDim, rows, beta)
        }
    }

    /// Rows c0..<c0+8 of xt times features n0..<n0+nb (nb <= 12), same clamping as `tile16x6`.
    @inline(__always)
    private static func tile8x12(_ xt: UnsafePointer<Float>, _ rp: Int, _ c0: Int, _ w: UnsafePointer<Float>,
                                 _ inDim: Int, n0: Int, nb: Int, _ out: UnsafeMutablePointer<Float>,
                                 _ outDim: Int, _ rows: Int, _ beta: Float) {
        let w0 = w + n0 * inDim
        @inline(__always) func row(_ j: Int) -> UnsafePointer<Float> { w0 + min(j, nb - 1) * inDim }
        let w1 = row(1), w2 = row(2), w3 = row(3), w4 = row(4), w5 = row(5)
        let w6 = row(6), w7 = row(7), w8 = row(8), w9 = row(9), w10 = row(10), w11 = row(11)
        var acc = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(),
                   SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
        var p = UnsafeRawPointer(xt + c0)
        let stride = rp * 4
        for k in 0..<inDim {
            let xa = p.loadUnaligned(as: SIMD8<Float>.self)
            acc.0.addProduct(SIMD8(repeating: w0[k]), xa)
            acc.1.addProduct(SIMD8(repeating: w1[k]), xa)
            acc.2.addProduct(SIMD8(repeating: w2[k]), xa)
            acc.3.addProduct(SIMD8(repeating: w3[k]), xa)
            acc.4.addProduct(SIMD8(repeating: w4[k]), xa)
            acc.5.addProduct(SIMD8(repeating: w5[k]), xa)
            acc.6.addProduct(SIMD8(repeating: w6[k]), xa)
            acc.7.addProduct(SIMD8(repeating: w7[k]), xa)
            acc.8.addProduct(SIMD8(repeating: w8[k]), xa)
            acc.9.addProduct(SIMD8(repeating: w9[k]), xa)
            acc.10.addProduct(SIMD8(repeating: w10[k]), xa)
            acc.11.addProduct(SIMD8(repeating: w11[k]), xa)
            p += stride
        }
        withUnsafeBytes(of: &acc) { raw in
            storeTile(raw.baseAddress!.assumingMemoryBound(to: Float.self), width: 8, c0: c0, n0: n0, nb: nb,
                  out, outDim, rows, beta)
        }
    }

    /// Writes a tile t[j * width + c] (feature n0 + j, row c0 + c) into out, skipping padded rows and
    /// clamped features: out = t (beta 0) or t + beta * out.
    @inline(__always)
    static func storeTile(_ t: UnsafePointer<Float>, width: Int, c0: Int, n0: Int, nb: Int,
                              _ out: UnsafeMutablePointer<Float>, _ outDim: Int, _ rows: Int, _ beta: Float) {
        let cEnd = min(width, rows - c0)
        for c in 0..<cEnd {
            let o = out + (c0 + c) * outDim + n0
            if beta == 0 {
                for j in 0..<nb { o[j] = t[j * width + c] }
            } else {
                for j in 0..<nb { o[j] = t[j * width + c] + beta * o[j] }
            }
        }
    }
}
