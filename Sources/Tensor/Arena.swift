import Foundation

/// All trainable parameters of a model in one flat Float buffer, with a second flat buffer of the same
/// size for their gradients (llm.c style). Each named parameter is a contiguous slice; `tensor(_:)` hands
/// out views, so ops read and accumulate straight into the arena. Zeroing, the optimizer, the global
/// gradient norm and checkpoint I/O are then single loops over `count` floats.
public final class ParameterArena {
    /// One named parameter: `data[offset ..< offset + count]`, row-major with `shape`.
    public struct Entry {
        public let name: String
        public let offset: Int
        public let shape: [Int]
        public var count: Int { shape.reduce(1, *) }
    }

    /// Total number of floats (parameters; the gradient buffer has the same size).
    public let count: Int
    /// Parameters, zero-initialised.
    public let data: UnsafeMutablePointer<Float>
    /// Gradients, zero-initialised.
    public let grad: UnsafeMutablePointer<Float>
    /// Entries in layout order, contiguous, no gaps.
    public let entries: [Entry]
    private let index: [String: Int]

    /// Lays out the parameters in the given order. Throws on an empty or duplicate name, or a shape with
    /// no dimensions, a dimension < 1, or a size that overflows Int.
    public init(layout: [(name: String, shape: [Int])]) throws {
        var entries: [Entry] = []
        var index: [String: Int] = [:]
        var offset = 0
        for (name, shape) in layout {
            try check(!name.isEmpty, "ParameterArena: empty parameter name at position \(entries.count)")
            try check(index[name] == nil, "ParameterArena: duplicate parameter name '\(name)'")
            try check(!shape.isEmpty && shape.allSatisfy({ $0 >= 1 }),
                      "ParameterArena: parameter '\(name)' has bad shape \(shape) (need >= 1 dimension, each >= 1)")
            var n = 1
            for d in shape {
                let (p, o) = n.multipliedReportingOverflow(by: d)
                try check(!o, "ParameterArena: parameter '\(name)' shape \(shape) is too large")
                n = p
            }
            let (end, o) = offset.addingReportingOverflow(n)
            try check(!o, "ParameterArena: total size overflows at parameter '\(name)'")
            index[name] = entries.count
            entries.append(Entry(name: name, offset: offset, shape: shape))
            offset = end
        }
        self.count = offset
        self.entries = entries
        self.index = index
        // calloc: large buffers come zeroed from the kernel and take memory only once touched, so a model used
        // for inference never pays for its gradient buffer.
        func zeroed() throws -> UnsafeMutablePointer<Float> {
            guard let p = calloc(max(offset, 1), MemoryLayout<Float>.stride) else {
                throw TensorError("ParameterArena: cannot allocate \(offset) floats (\(offset / (1 << 28)) GiB)")
            }
            return p.bindMemory(to: Float.self, capacity: max(offset, 1))
        }
        self.data = try zeroed()
        self.grad = try zeroed()
    }

    deinit {
        free(data)
        free(grad)
    }

    /// The entry called `name`; the error lists a few known names to spot typos.
    public func entry(_ name: String) throws -> Entry {
        if let i = index[name] { return entries[i] }
        let known = entries.prefix(8).map { "'\($0.name)'" }.joined(separator: ", ")
        let more = entries.count > 8 ? ", ... (\(entries.count) in all)" : ""
        throw TensorError("ParameterArena: no parameter named '\(name)'; known: \(entries.isEmpty ? "none" : known + more)")
    }

    /// A view of parameter `name` whose gradient lives in the arena's gradient buffer (requiresGrad = true).
    public func tensor(_ name: String) throws -> Tensor {
        let e = try entry(name)
        return Tensor(view: data + e.offset, grad: grad + e.offset, shape: e.shape, owner: self)
    }

    /// A view of any contiguous range `offset ..< offset + shape.product`, e.g. the q, k and v weights of
    /// one layer as a single [3D, D] matrix when they are laid out next to each other.
    public func view(offset: Int, shape: [Int]) throws -> Tensor {
        try check(!shape.isEmpty && shape.allSatisfy({ $0 >= 1 }),
                  "ParameterArena.view: bad shape \(shape) (need >= 1 dimension, each >= 1)")
        let n = shape.reduce(1, *)
        try check(offset >= 0 && offset <= count && n <= count - offset,
                  "ParameterArena.view: range \(offset)..<\(offset + n) (shape \(shape)) outside the arena 0..<\(count)")
        return Tensor(view: data + offset, grad: grad + offset, shape: shape, owner: self)
    }

    public func zeroGrad() {
        let g = grad
        parallelFor(count, minChunk: 1 << 18) { r in (g + r.lowerBound).update(repeating: 0, count: r.count) }
    }

    /// Global L2 norm over all gradients. Squares are summed in Double per fixed-size block and the blocks
    /// are added in order, so the result does not depend on the thread count.
    public func gradNorm() -> Float {
        Float(sumOfSquares(grad, count).squareRoot())
    }

    /// Scales all gradients by maxNorm / norm when the global norm exceeds `maxNorm`, and returns the norm
    /// measured before clipping (log that one). A non-finite norm is returned without touching the
    /// gradients (check `gradsAreFinite` and skip the step). maxNorm <= 0 or non-finite disables clipping.
    @discardableResult
    public func clipGradNorm(maxNorm: Float) -> Float {
        let norm = gradNorm()
        guard maxNorm > 0, maxNorm.isFinite, norm.isFinite, norm > maxNorm else { return norm }
        let scale = maxNorm / norm
        let g = grad
        parallelFor(count, minChunk: 1 << 16) { r in
            for i in r { g[i] *= scale }
        }
        return norm
    }

    /// False if any gradient is NaN or ±Inf.
    public var gradsAreFinite: Bool {
        // Float squares cannot overflow a Double sum (max ~1.2e77 each), so the sum of squares is finite
        // exactly when every gradient is finite.
        sumOfSquares(grad, count).isFinite
    }

    /// Fills parameter `name` with N(0, std²) samples.
    public func fillNormal(_ name: String, std: Float, rng: inout RNG) throws {
        try check(std.isFinite && std >= 0, "fillNormal('\(name)'): std must be finite and >= 0, got \(std)")
        let e = try entry(name)
        let p = data + e.offset
        for i in 0..<e.count { p[i] = rng.normal() * std }
    }

    /// Sets every element of parameter `name` to `value` (e.g. 1 for RMSNorm weights).
    public func fill(_ name: String, value: Float) throws {
        let e = try entry(name)
        (data + e.offset).update(repeating: value, count: e.count)
    }
}

/// Sum of x[i]² in Double over fixed blocks of 64K floats (parallel over blocks, added in block order).
func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
    let block = 1 << 16
    let blocks = (n + block - 1) / block
    if blocks == 0 { return 0 }
    let partial = UnsafeMutablePointer<Double>.allocate(capacity: blocks)
    defer { partial.deallocate() }
    parallelFor(blocks) { r in
        for b in r {
            let lo = b * block, hi = min(n, lo + block)
            // 16 floats at a time, widened to Double; four vector accumulators keep the FMAs pipelined.
            // Fixed order, so the result is reproducible.
            var a0 = SIMD4<Double>(), a1 = SIMD4<Double>(), a2 = SIMD4<Double>(), a3 = SIMD4<Double>()
            var i = lo
            while i + 16 <= hi {
                let u = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
                let v = UnsafeRawPointer(x + i + 8).loadUnaligned(as: SIMD8<Float>.self)
                let ul = SIMD4<Double>(u.lowHalf), uh = SIMD4<Double>(u.highHalf)
                let vl = SIMD4<Double>(v.lowHalf), vh = SIMD4<Double>(v.highHalf)
                a0.addProduct(ul, ul); a1.addProduct(uh, uh)
                a2.addProduct(vl, vl); a3.addProduct(vh, vh)
                i += 16
            }
            var s = ((a0 + a1) + (a2 + a3)).sum()
            while i < hi { let a = Double(x[i]); s += a * a; i += 1 }
            partial[b] = s
        }
    }
    var s = 0.0
    for b in 0..<blocks { s += partial[b] }
    return s
}
