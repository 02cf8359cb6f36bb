import Foundation

// Shape ops copy: tensors are always contiguous and own (or view) one buffer, and these ops are rare
// next to matmuls. Their "kernel" is a memcpy, so they have no entry in `Kernels`.

/// Same data, new shape with the same element count. x: [...] -> shape
public func reshape(_ x: Tensor, _ shape: [Int]) throws -> Tensor {
    try check(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == x.count,
              "reshape: cannot view \(x.shape) (\(x.count) elements) as \(shape)")
    let out = Tensor(zeros: shape), n = x.count
    out.data.update(from: x.data, count: n)
    return Tensor.record(out, inputs: [x]) { out in
        let g = out.grad!, dx = x.ensureGrad()
        for i in 0..<n { dx[i] += g[i] }
    }
}

/// Rows `rows` along dim 0. x: [R, ...] -> [rows.count, ...]
public func sliceRows(_ x: Tensor, _ rows: Range<Int>) throws -> Tensor {
    try check(x.rank >= 1 && rows.lowerBound >= 0 && rows.upperBound <= x.shape[0],
              "sliceRows: rows \(rows) outside \(x.shape)")
    let rowSize = x.shape.dropFirst().reduce(1, *)
    let off = rows.lowerBound * rowSize, n = rows.count * rowSize
    let out = Tensor(zeros: [rows.count] + x.shape.dropFirst())
    out.data.update(from: x.data + off, count: n)
    return Tensor.record(out, inputs: [x]) { out in
        let g = out.grad!, dx = x.ensureGrad() + off
        for i in 0..<n { dx[i] += g[i] }
    }
}

/// Concatenation along dim 0; trailing dims must be equal. xs: [R_k, ...] -> [sum R_k, ...]
public func concatRows(_ xs: [Tensor]) throws -> Tensor {
    guard let first = xs.first else { throw TensorError("concatRows needs at least one tensor") }
    try check(first.rank >= 1, "concatRows needs tensors of rank >= 1, got \(first.shape)")
    let tail = Array(first.shape.dropFirst())
    for x in xs {
        try check(x.rank == first.rank && Array(x.shape.dropFirst()) == tail,
                  "concatRows needs equal trailing dims, got \(xs.map(\.shape))")
    }
    let out = Tensor(zeros: [xs.reduce(0) { $0 + $1.shape[0] }] + tail)
    var offsets: [Int] = []
    var off = 0
    for x in xs {
        offsets.append(off)
        (out.data + off).update(from: x.data, count: x.count)
        off += x.count
    }
    return Tensor.record(out, inputs: xs) { out in
        let g = out.grad!
        for (x, o) in zip(xs, offsets) where x.requiresGrad {
            let dx = x.ensureGrad()
            for i in 0..<x.count { dx[i] += g[o + i] }
        }
    }
}
