import Foundation

extension Kernels {
    /// out[i,:] = table[ids[i],:]. table: [V,D], ids: n values in 0..<V -> out: [n,D]
    public static func embedding(table: UnsafePointer<Float>, ids: UnsafePointer<Int32>, count n: Int, dim: Int,
                                 out: UnsafeMutablePointer<Float>) {
        parallelFor(n, minChunk: 64) { r in
            for i in r { (out + i * dim).update(from: table + Int(ids[i]) * dim, count: dim) }
        }
    }
}

/// Token embedding lookup. table: [V,D], ids: N values in 0..<V -> [N,D]
/// Backward scatter-adds each output row's gradient into its table row (ids may repeat).
public func embedding(_ table: Tensor, ids: [Int32]) throws -> Tensor {
    try check(table.rank == 2, "embedding needs a table [V,D], got \(table.shape)")
    let v = table.shape[0], d = table.shape[1], n = ids.count
    if let bad = ids.first(where: { $0 < 0 || Int($0) >= v }) {
        throw TensorError("embedding: id \(bad) outside table rows 0..<\(v) (table \(table.shape))")
    }
    let out = Tensor(uninitialized: [n, d])   // every row is copied
    ids.withUnsafeBufferPointer { p in
        if n > 0 { Kernels.embedding(table: table.data, ids: p.baseAddress!, count: n, dim: d, out: out.data) }
    }
    return Tensor.record(out, inputs: [table]) { out in
        // Split columns, not rows: repeated ids would race if split by row.
        let g = out.grad!, dt = table.ensureGrad()
        ids.withUnsafeBufferPointer { p in
            parallelFor(d, minChunk: 64) { cols in
                for i in 0..<n {
                    let src = g + i * d, dst = dt + Int(p[i]) * d
                    for j in cols { dst[j] += src[j] }
                }
            }
        }
    }
}
