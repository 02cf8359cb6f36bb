import Foundation

extension Kernels {
    /// sum_i x_i, accumulated in Double (losses are sums of many small terms).
    public static func sum(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var s: Double = 0
        for i in 0..<n { s += Double(x[i]) }
        return Float(s)
    }

    /// sum_i x_i * m_i, accumulated in Double.
    public static func maskedSum(_ x: UnsafePointer<Float>, mask: UnsafePointer<Float>, count n: Int) -> Float {
        var s: Double = 0
        for i in 0..<n where mask[i] != 0 { s += Double(x[i]) * Double(mask[i]) }
        return Float(s)
    }
}

/// Shared body of the four reductions: out = sum_i x_i * w_i * scale (w = 1 when nil), a scalar [];
/// backward dx_i += g * w_i * scale.
private func weightedSum(_ x: Tensor, _ mask: [Float]?, scale: Float) -> Tensor {
    let out = Tensor(zeros: []), n = x.count
    if let mask {
        out.data[0] = mask.withUnsafeBufferPointer { m in
            n > 0 ? Kernels.maskedSum(x.data, mask: m.baseAddress!, count: n) : 0
        } * scale
    } else {
        out.data[0] = Kernels.sum(x.data, count: n) * scale
    }
    return Tensor.record(out, inputs: [x]) { out in
        let g = out.grad![0] * scale, dx = x.ensureGrad()
        if let mask {
            for i in 0..<n where mask[i] != 0 { dx[i] += g * mask[i] }
        } else {
            for i in 0..<n { dx[i] += g }
        }
    }
}

/// Sum of all elements. x: [...] -> []
public func sum(_ x: Tensor) -> Tensor {
    weightedSum(x, nil, scale: 1)
}

/// Mean of all elements (0 for an empty tensor). x: [...] -> []
public func mean(_ x: Tensor) -> Tensor {
    weightedSum(x, nil, scale: x.count > 0 ? 1 / Float(x.count) : 0)
}

/// sum_i x_i * m_i over all elements (x flattened). x: [...], mask: x.count values -> []
public func maskedSum(_ x: Tensor, mask: [Float]) throws -> Tensor {
    try check(mask.count == x.count, "maskedSum: mask has \(mask.count) values for x \(x.shape) (\(x.count) elements)")
    return weightedSum(x, mask, scale: 1)
}

/// sum_i x_i * m_i / sum_i m_i (0 when sum(m) == 0). x: [...], mask: x.count values -> []
public func maskedMean(_ x: Tensor, mask: [Float]) throws -> Tensor {
    try check(mask.count == x.count, "maskedMean: mask has \(mask.count) values for x \(x.shape) (\(x.count) elements)")
    let total = mask.reduce(0, +)
    return weightedSum(x, mask, scale: total != 0 ? 1 / total : 0)
}
