import Foundation

/// x + bias broadcast over rows (the q/k/v biases of Qwen2). x: [N, C], bias: [C] -> [N, C].
/// Backward: dx = g, dbias = column sums of g.
public func addBias(_ x: Tensor, _ bias: Tensor) throws -> Tensor {
    try check(x.rank == 2 && bias.rank == 1 && bias.shape[0] == x.shape[1],
              "addBias needs x [N, C] and bias [C], got \(x.shape) and \(bias.shape)")
    let n = x.shape[0], c = x.shape[1]
    let out = Tensor(uninitialized: x.shape)
    let xp = x.data, bp = bias.data, op = out.data
    parallelFor(n, minChunk: 16) { rows in
        for r in rows { Kernels.add(xp + r * c, bp, out: op + r * c, count: c) }
    }
    return Tensor.record(out, inputs: [x, bias]) { out in
        let g = out.grad!
        if x.requiresGrad { passGradient(g, to: x, count: n * c) }
        if bias.requiresGrad {
            let db = bias.ensureGrad()      // rows in order: the sum does not depend on the thread count
            for r in 0..<n { Kernels.add(db, g + r * c, out: db, count: c) }
        }
    }
}
