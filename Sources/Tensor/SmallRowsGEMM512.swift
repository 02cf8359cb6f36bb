#if arch(x86_64)
import TensorAVX512

/// `smallRowsLinear` on AVX-512 CPUs (only called when `useAVX512`): x packed in k pairs, 8 rows per block, tiles from
/// `TensorAVX512.pairTile8x12` (16-lane FMAs, twice the k per instruction of the AVX2 `tile8x12`).
/// Each 12-feature slice of W is multiplied with every 8-row block while it is still in L1, so W is read
/// from memory once whatever the row count. Needs an even inDim.
extension Kernels {
    static func smallRowsLinear512(x: UnsafePointer<Float>, lda: Int, w: UnsafePointer<Float>,
                                   out: UnsafeMutablePointer<Float>, rows: Int, outDim: Int, inDim: Int,
                                   beta: Float) {
        let pairs = inDim / 2, blocks = (rows + 7) / 8, blockSize = pairs * 16
        let xt = UnsafeMutableRawPointer.allocate(byteCount: max(1, blocks * blockSize) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(1, blocks * blockSize))
        defer { xt.deallocate() }
        xt.initialize(repeating: 0, count: max(1, blocks * blockSize))   // padded rows stay zero
        for r in 0..<rows {   // row r is lane pair r % 8 of block r / 8
            let xr = x + r * lda, xb = xt + (r / 8) * blockSize + 2 * (r % 8)
            for k in 0..<inDim { xb[(k / 2) * 16 + k % 2] = xr[k] }
        }
        let units = (outDim + 11) / 12
        let runUnits = { (range: Range<Int>) in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 96) { tile in
                for u in range {
                    let n0 = u * 12, nb = min(12, outDim - n0)
                    for b in 0..<blocks {
                        pairTile8x12(xt: xt + b * blockSize, pairs: pairs, w: w, inDim: inDim, n0: n0, nb: nb,
                                     tile: tile.baseAddress!)
                        storeTile(tile.baseAddress!, width: 8, c0: 8 * b, n0: n0, nb: nb, out, outDim, rows, beta)
                    }
                }
            }
        }
        forEachUnit(units, macsPerUnit: 12 * 8 * blocks * max(1, inDim), runUnits)
    }
}
#endif
