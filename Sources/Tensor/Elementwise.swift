import Foundation

/// Elementwise loops are memory-bound: split only large buffers over threads.
private let elementwiseChunk = 1 << 15

extension Kernels {
    /// out = a + b over n elements (out may alias a or b).
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count n: Int) {
        parallelFor(n, minChunk: elementwiseChunk) { r in
            for i in r { out[i] = a[i] + b[i] }
        }
    }

    /// out = a * b over n elements (out may alias a or b).
    public static func mul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count n: Int) {
        parallelFor(n, minChunk: elementwiseChunk) { r in
            for i in r { out[i] = a[i] * b[i] }
        }
    }

    /// out = s * a over n elements (out may alias a).
    public static func scale(_ a: UnsafePointer<Float>, _ s: Float, out: UnsafeMutablePointer<Float>, count n: Int) {
        parallelFor(n, minChunk: elementwiseChunk) { r in
            for i in r { out[i] = s * a[i] }
        }
    }

    /// out = exp(a) over n elements (out may alias a).
    public static func exp(_ a: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count n: Int) {
        parallelFor(n, minChunk: elementwiseChunk) { r in
            expShiftScale(a + r.lowerBound, out + r.lowerBound, r.count, shift: 0, scale: 1)
        }
    }

    /// out = x * sigmoid(x) over n elements (out may alias x).
    public static func silu(_ x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count n: Int) {
        parallelFor(n, minChunk: elementwiseChunk) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
                let y = v / (1 + fastExp(-v))
                UnsafeMutableRawPointer(out + i).storeBytes(of: y, as: SIMD8<Float>.self)
                i += 8
            }
            while i < r.upperBound { out[i] = x[i] / (1 + fastExp(-x[i])); i += 1 }
        }
    }

    /// SwiGLU: out = silu(gate) * up over n elements (out may alias either input).
    public static func swiglu(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                              count n: Int) {
        parallelFor(n, minChunk: elementwiseChunk) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let g = UnsafeRawPointer(gate + i).loadUnaligned(as: SIMD8<Float>.self)
                let u = UnsafeRawPointer(up + i).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(out + i).storeBytes(of: g / (1 + fastExp(-g)) * u, as: SIMD8<Float>.self)
                i += 8
            }
            while i < r.upperBound { out[i] = gate[i] / (1 + fastExp(-gate[i])) * up[i]; i += 1 }
        }
    }
}

/// Accumulates dst[i] += s * src[i] (the common backward of add/scale).
private func accumulate(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ s: Float, _ n: Int) {
    parallelFor(n, minChunk: elementwiseChunk) { r in
        for i in r { dst[i] += s * src[i] }
    }
}

/// Passes gradient `g` (n elements) on to `t`: a copy when t has no gradient yet, else an accumulation.
func passGradient(_ g: UnsafePointer<Float>, to t: Tensor, count n: Int) {
    let (dt, beta) = t.gradForFullWrite()
    if beta == 0 {
        parallelFor(n, minChunk: elementwiseChunk) { r in (dt + r.lowerBound).update(from: g + r.lowerBound, count: r.count) }
    } else {
        accumulate(dt, g, 1, n)
    }
}

private func sameShape(_ op: String, _ a: Tensor, _ b: Tensor) throws {
    try check(a.shape == b.shape, "\(op) needs equal shapes, got \(a.shape) and \(b.shape)")
}

/// a + b, same shapes. a: [...], b: [...] -> [...]
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try sameShape("add", a, b)
    let out = Tensor(uninitialized: a.shape), n = a.count
    Kernels.add(a.data, b.data, out: out.data, count: n)
    return Tensor.record(out, inputs: [a, b]) { out in
        let g = out.grad!
        if a.requiresGrad { passGradient(g, to: a, count: n) }
        if b.requiresGrad { passGradient(g, to: b, count: n) }
    }
}

/// a * b elementwise, same shapes. a: [...], b: [...] -> [...]
public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try sameShape("mul", a, b)
    let out = Tensor(uninitialized: a.shape), n = a.count
    Kernels.mul(a.data, b.data, out: out.data, count: n)
    return Tensor.record(out, inputs: [a, b]) { out in
        let g = out.grad!, x = a.data, y = b.data
        if a.requiresGrad {
            let da = a.ensureGrad()
            parallelFor(n, minChunk: elementwiseChunk) { r in for i in r { da[i] += g[i] * y[i] } }
        }
        if b.requiresGrad {
            let db = b.ensureGrad()
            parallelFor(n, minChunk: elementwiseChunk) { r in for i in r { db[i] += g[i] * x[i] } }
        }
    }
}

/// s * a. a: [...] -> [...]
public func scale(_ a: Tensor, _ s: Float) -> Tensor {
    let out = Tensor(uninitialized: a.shape), n = a.count
    Kernels.scale(a.data, s, out: out.data, count: n)
    return Tensor.record(out, inputs: [a]) { out in
        accumulate(a.ensureGrad(), out.grad!, s, n)
    }
}

/// exp(a) elementwise. a: [...] -> [...]
public func exp(_ a: Tensor) -> Tensor {
    let out = Tensor(uninitialized: a.shape), n = a.count
    Kernels.exp(a.data, out: out.data, count: n)
    return Tensor.record(out, inputs: [a]) { out in
        let g = out.grad!, y = out.data, da = a.ensureGrad()   // d exp(a) = exp(a)
        parallelFor(n, minChunk: elementwiseChunk) { r in for i in r { da[i] += g[i] * y[i] } }
    }
}

/// silu(x) = x * sigmoid(x). x: [...] -> [...]
public func silu(_ x: Tensor) -> Tensor {
    let out = Tensor(uninitialized: x.shape), n = x.count
    Kernels.silu(x.data, out: out.data, count: n)
    return Tensor.record(out, inputs: [x]) { out in
        // silu'(x) = s + x s (1 - s) with s = sigmoid(x)
        let g = out.grad!, xs = x.data, dx = x.ensureGrad()
        parallelFor(n, minChunk: elementwiseChunk) { r in
            for i in r {
                let s = 1 / (1 + fastExp(-xs[i]))
                dx[i] += g[i] * s * (1 + xs[i] * (1 - s))
            }
        }
    }
}

/// Fused SwiGLU MLP activation: silu(gate) * up. gate: [N,F], up: [N,F] -> [N,F]
public func swiglu(gate: Tensor, up: Tensor) throws -> Tensor {
    try sameShape("swiglu(gate:up:)", gate, up)
    let out = Tensor(uninitialized: gate.shape), n = gate.count
    Kernels.swiglu(gate: gate.data, up: up.data, out: out.data, count: n)
    return Tensor.record(out, inputs: [gate, up]) { out in
        let dg = gate.requiresGrad ? gate.gradForFullWrite() : nil
        let du = up.requiresGrad ? up.gradForFullWrite() : nil
        // One row of n elements: contiguous gate, up and gradients.
        Kernels.swigluBackward(gate: gate.data, up: up.data, g: out.grad!, dGate: dg, dUp: du, rows: 1, cols: n,
                               ldIn: n, ldOut: n)
    }
}

/// SwiGLU over a fused gate|up projection: row i of `gateUp` holds gate in cols 0..<F and up in F..<2F
/// (the output of one matmul with the [2F, D] stack of gate_proj and up_proj).
/// gateUp: [N,2F] -> silu(gate) * up: [N,F]
public func swiglu(gateUp: Tensor) throws -> Tensor {
    try check(gateUp.rank == 2 && gateUp.shape[1] % 2 == 0,
              "swiglu(gateUp:) needs [N, 2F], got \(gateUp.shape)")
    let rows = gateUp.shape[0], f = gateUp.shape[1] / 2
    let out = Tensor(uninitialized: [rows, f])
    let x = gateUp.data, o = out.data
    parallelFor(rows, minChunk: 16) { r in
        for i in r { Kernels.swiglu(gate: x + i * 2 * f, up: x + i * 2 * f + f, out: o + i * f, count: f) }
    }
    return Tensor.record(out, inputs: [gateUp]) { out in
        let (dx, beta) = gateUp.gradForFullWrite()
        Kernels.swigluBackward(gate: gateUp.data, up: gateUp.data + f, g: out.grad!, dGate: (dx, beta),
                               dUp: (dx + f, beta), rows: rows, cols: f, ldIn: 2 * f, ldOut: f)
    }
}

extension Kernels {
    /// Backward of silu(gate) * up over `rows` rows of `cols` elements. Inputs and their gradients have row
    /// stride ldIn, g has ldOut. With s = sigmoid(gate): dGate = g * up * s * (1 + gate * (1 - s)),
    /// dUp = g * gate * s. Each gradient is stored (beta 0) or accumulated (beta 1).
    static func swigluBackward(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, g: UnsafePointer<Float>,
                               dGate: (grad: UnsafeMutablePointer<Float>, beta: Float)?,
                               dUp: (grad: UnsafeMutablePointer<Float>, beta: Float)?,
                               rows: Int, cols: Int, ldIn: Int, ldOut: Int) {
        // Split the rows when there are several, else the one long row (the unfused op).
        let items = rows == 1 ? cols : rows
        parallelFor(items, minChunk: rows == 1 ? elementwiseChunk : 16) { r in
            let rowRange = rows == 1 ? 0..<1 : r, colRange = rows == 1 ? r : 0..<cols
            for i in rowRange {
                swigluBackwardRow(gate + i * ldIn, up + i * ldIn, g + i * ldOut,
                                  dGate.map { $0.grad + i * ldIn }, dGate?.beta ?? 0,
                                  dUp.map { $0.grad + i * ldIn }, dUp?.beta ?? 0, colRange)
            }
        }
    }

    @inline(__always)
    private static func swigluBackwardRow(_ a: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                                          _ dg: UnsafeMutablePointer<Float>?, _ betaG: Float,
                                          _ du: UnsafeMutablePointer<Float>?, _ betaU: Float, _ cols: Range<Int>) {
        let bg = SIMD8<Float>(repeating: betaG), bu = SIMD8<Float>(repeating: betaU)
        var j = cols.lowerBound
        while j + 8 <= cols.upperBound {
            let av = UnsafeRawPointer(a + j).loadUnaligned(as: SIMD8<Float>.self)
            let uv = UnsafeRawPointer(u + j).loadUnaligned(as: SIMD8<Float>.self)
            let gv = UnsafeRawPointer(g + j).loadUnaligned(as: SIMD8<Float>.self)
            let s = 1 / (1 + fastExp(-av))
            // beta 0 must ignore the (uninitialized) old value, so select rather than multiply.
            if let dg {
                let old = betaG == 0 ? .zero : UnsafeRawPointer(dg + j).loadUnaligned(as: SIMD8<Float>.self) * bg
                UnsafeMutableRawPointer(dg + j).storeBytes(of: old + gv * uv * s * (1 + av * (1 - s)), as: SIMD8<Float>.self)
            }
            if let du {
                let old = betaU == 0 ? .zero : UnsafeRawPointer(du + j).loadUnaligned(as: SIMD8<Float>.self) * bu
                UnsafeMutableRawPointer(du + j).storeBytes(of: old + gv * av * s, as: SIMD8<Float>.self)
            }
            j += 8
        }
        while j < cols.upperBound {
            let s = 1 / (1 + fastExp(-a[j]))
            if let dg { dg[j] = (betaG == 0 ? 0 : dg[j]) + g[j] * u[j] * s * (1 + a[j] * (1 - s)) }
            if let du { du[j] = (betaU == 0 ? 0 : du[j]) + g[j] * a[j] * s }
            j += 1
        }
    }
}
