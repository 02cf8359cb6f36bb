#if TIR_AVX512
import TensorAVX512

/// The <= 8-row case of `smallRowsLinear` on AVX-512 builds: x packed in k pairs, tiles from
/// `TensorAVX512.pairTile8x12` (16-lane FMAs, twice the k per instruction of the AVX2 `tile8x12`).
/// Needs an even inDim.
extension Kernels {
    static func smallRows8Linear512(x: UnsafePointer<Float>, lda: Int, w: UnsafePointer<Float>,
                                    out: UnsafeMutablePointer<Float>, rows: Int, outDim: Int, inDim: Int,
                                    beta: Float) {
        let pairs = inDim / 2
        let xt = UnsafeMutableRawPointer.allocate(byteCount: max(1, pairs * 16) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(1, pairs * 16))
        defer { xt.deallocate() }
        xt.initialize(repeating: 0, count: max(1, pairs * 16))   // padded rows stay zero
        for r in 0..<rows {
            let xr = x + r * lda
            for k in 0..<inDim { xt[(k / 2) * 16 + 2 * r + k % 2] = xr[k] }
        }
        let units = (outDim + 11) / 12
        let runUnits = { (range: Range<Int>) in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 96) { tile in
                for u in range {
                    let n0 = u * 12, nb = min(12, outDim - n0)
                    pairTile8x12(xt: xt, pairs: pairs, w: w, inDim: inDim, n0: n0, nb: nb, tile: tile.baseAddress!)
                    storeTile(tile.baseAddress!, width: 8, c0: 0, n0: n0, nb: nb, out, outDim, rows, beta)
                }
            }
        }
        forEachUnit(units, macsPerUnit: 12 * 8 * max(1, inDim), runUnits)
    }
}
#endif
