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

private func sameShape(_ op: String, _ a: Tensor, _ b: Tensor) throws {
    try check(a.shape == b.shape, "\(op) needs equal shapes, got \(a.shape) and \(b.shape)")
}

/// a + b, same shapes. a: [...], b: [...] -> [...]
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try sameShape("add", a, b)
    let out = Tensor(zeros: a.shape), n = a.count
    Kernels.add(a.data, b.data, out: out.data, count: n)
    return Tensor.record(out, inputs: [a, b]) { out in
        let g = out.grad!
        if a.requiresGrad { accumulate(a.ensureGrad(), g, 1, n) }
        if b.requiresGrad { accumulate(b.ensureGrad(), g, 1, n) }
    }
}

/// a * b elementwise, same shapes. a: [...], b: [...] -> [...]
public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try sameShape("mul", a, b)
    let out = Tensor(zeros: a.shape), n = a.count
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
    let out = Tensor(zeros: a.shape), n = a.count
    Kernels.scale(a.data, s, out: out.data, count: n)
    return Tensor.record(out, inputs: [a]) { out in
        accumulate(a.ensureGrad(), out.grad!, s, n)
    }
}

/// exp(a) elementwise. a: [...] -> [...]
public func exp(_ a: Tensor) -> Tensor {
    let out = Tensor(zeros: a.shape), n = a.count
    Kernels.exp(a.data, out: out.data, count: n)
    return Tensor.record(out, inputs: [a]) { out in
        let g = out.grad!, y = out.data, da = a.ensureGrad()   // d exp(a) = exp(a)
        parallelFor(n, minChunk: elementwiseChunk) { r in for i in r { da[i] += g[i] * y[i] } }
    }
}

/// silu(x) = x * sigmoid(x). x: [...] -> [...]
public func silu(_ x: Tensor) -> Tensor {
    let out = Tensor(zeros: x.shape), n = x.count
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
    let out = Tensor(zeros: gate.shape), n = gate.count
    Kernels.swiglu(gate: gate.data, up: up.data, out: out.data, count: n)
    return Tensor.record(out, inputs: [gate, up]) { out in
        let g = out.grad!, a = gate.data, u = up.data
        let dg = gate.requiresGrad ? gate.ensureGrad() : nil
        let du = up.requiresGrad ? up.ensureGrad() : nil
        parallelFor(n, minChunk: elementwiseChunk) { r in
            for i in r {
                let s = 1 / (1 + fastExp(-a[i]))
                if let dg { dg[i] += g[i] * u[i] * s * (1 + a[i] * (1 - s)) }
                if let du { du[i] += g[i] * a[i] * s }
            }
        }
    }
}
