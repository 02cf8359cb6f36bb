import Foundation

/// Errors from tensor operations and tensor I/O. The message says what was wrong and with which shapes.
public struct TensorError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A row-major Float32 tensor. Storage is a raw buffer, either owned by the tensor or a view into a
/// `ParameterArena` (then `grad` points into the arena's gradient buffer as well).
///
/// Autodiff is a tape of backward closures: an op computes its output, then `record`s its inputs and a
/// closure that reads `out.grad` and accumulates (+=) into the inputs' gradients.
public final class Tensor {
    public let shape: [Int]
    public let count: Int
    public let data: UnsafeMutablePointer<Float>
    public private(set) var grad: UnsafeMutablePointer<Float>?
    /// True for leaves that want gradients (parameters) and for every op output that depends on one.
    public var requiresGrad: Bool

    private let ownsData: Bool
    private var ownsGrad = false
    private let storageOwner: AnyObject?    // keeps an arena alive while a view exists
    var parents: [Tensor] = []
    var backwardFn: ((Tensor) -> Void)?
    private var recordingOp: String?     // `#function` of the op that recorded `backwardFn`

    /// The name of the op whose backward rule this tensor carries ("matmul", "rmsNorm", ...); nil for leaves
    /// and for results computed without a tape.
    public var opName: String? { recordingOp.map { String($0.prefix { $0 != "(" }) } }

    /// A new zero-filled tensor.
    public init(zeros shape: [Int], requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = StorageCache.allocate(count)
        self.data.initialize(repeating: 0, count: max(count, 1))
        self.ownsData = true
        self.storageOwner = nil
        self.requiresGrad = requiresGrad
    }

    /// A new tensor with undefined contents, for op outputs whose kernel writes every element (saves a
    /// zero-fill pass over memory that is overwritten anyway).
    init(uninitialized shape: [Int]) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = StorageCache.allocate(count)
        self.ownsData = true
        self.storageOwner = nil
        self.requiresGrad = false
    }

    /// A tensor holding a copy of `values`; throws if the count does not match the shape.
    public convenience init(shape: [Int], _ values: [Float], requiresGrad: Bool = false) throws {
        let n = shape.reduce(1, *)
        guard values.count == n, shape.allSatisfy({ $0 >= 0 }) else {
            throw TensorError("Tensor(shape: \(shape)) needs \(n) values, got \(values.count)")
        }
        self.init(zeros: shape, requiresGrad: requiresGrad)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: n) }
    }

    /// A view over external storage (parameter arenas). `grad` may be nil for frozen tensors.
    public init(view data: UnsafeMutablePointer<Float>, grad: UnsafeMutablePointer<Float>?, shape: [Int],
                owner: AnyObject) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = data
        self.grad = grad
        self.ownsData = false
        self.storageOwner = owner
        self.requiresGrad = grad != nil
    }

    deinit {
        if ownsData { StorageCache.deallocate(data, count: count) }
        if ownsGrad, let g = grad { StorageCache.deallocate(g, count: count) }
    }

    public var rank: Int { shape.count }
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
    public var gradArray: [Float]? { grad.map { Array(UnsafeBufferPointer(start: $0, count: count)) } }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    /// The single value of a one-element tensor.
    public func item() -> Float { data[0] }

    /// The gradient buffer, allocated zero-filled on first use.
    @discardableResult
    public func ensureGrad() -> UnsafeMutablePointer<Float> {
        if let g = grad { return g }
        let g = StorageCache.allocate(count)
        g.initialize(repeating: 0, count: max(count, 1))
        grad = g
        ownsGrad = true
        return g
    }

    /// The gradient buffer for a backward that writes every one of its elements. On first use (nothing
    /// accumulated yet) it is allocated without zero-filling and `beta` is 0: the caller must then store,
    /// not add. Otherwise beta is 1 and the caller accumulates as usual: write `beta * old + new`.
    func gradForFullWrite() -> (grad: UnsafeMutablePointer<Float>, beta: Float) {
        if let g = grad { return (g, 1) }
        let g = StorageCache.allocate(count)
        grad = g
        ownsGrad = true
        return (g, 0)
    }

    public func zeroGrad() {
        if let g = grad { g.update(repeating: 0, count: count) }
    }

    /// Reverse-mode sweep: seeds this tensor's gradient (1 for a scalar, or `seed`, one value per element)
    /// and runs every recorded backward closure in reverse topological order. Gradients accumulate.
    /// With `profile`, each backward rule's wall time is added to it under its op name.
    public func backward(seed: [Float]? = nil, profile: BackwardProfile? = nil) throws {
        guard requiresGrad else { throw TensorError("backward() on a tensor that does not require grad") }
        if let seed {
            guard seed.count == count else { throw TensorError("backward(seed:) needs \(count) values, got \(seed.count)") }
            let g = ensureGrad()
            for i in 0..<count { g[i] += seed[i] }
        } else {
            guard count == 1 else { throw TensorError("backward() needs a scalar, got shape \(shape); pass seed:") }
            ensureGrad()[0] += 1
        }
        for t in topologicalOrder().reversed() {
            guard let fn = t.backwardFn, t.grad != nil else { continue }
            guard let profile else { fn(t); continue }
            let start = DispatchTime.now().uptimeNanoseconds
            fn(t)
            profile.add(op: t.opName ?? "?", nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
        }
    }

    /// Drops the recorded graph below this tensor (frees activations early).
    public func detachGraph() {
        for t in topologicalOrder() { t.parents = []; t.backwardFn = nil; t.recordingOp = nil }
    }

    /// Inputs before outputs; iterative so deep graphs cannot overflow the stack.
    private func topologicalOrder() -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while let (node, next) = stack.popLast() {
            if next < node.parents.count {
                stack.append((node, next + 1))
                let p = node.parents[next]
                if visited.insert(ObjectIdentifier(p)).inserted { stack.append((p, 0)) }
            } else {
                order.append(node)
            }
        }
        return order
    }
}

// MARK: - Recording ops

/// Whether ops record the tape. Graph building is single-threaded (kernels parallelize inside an op).
nonisolated(unsafe) private var gradDisabledDepth = 0

public var isGradEnabled: Bool { gradDisabledDepth == 0 }

/// Runs `body` without recording any backward closures (evaluation, sampling, old log-probs).
public func noGrad<T>(_ body: () throws -> T) rethrows -> T {
    gradDisabledDepth += 1
    defer { gradDisabledDepth -= 1 }
    return try body()
}

extension Tensor {
    /// Attaches `backward` to `out` when gradients are on and any input requires them. Ops call this after
    /// computing `out`. `backward(out)` must accumulate into `inputs[i].ensureGrad()` for inputs that
    /// require grad. Also the entry point for ops defined outside this module (the GRPO loss). `op` names the
    /// rule in profiles; it defaults to the calling op's function name.
    @discardableResult
    public static func record(_ out: Tensor, inputs: [Tensor], op: String = #function,
                              backward: @escaping (Tensor) -> Void) -> Tensor {
        guard isGradEnabled, inputs.contains(where: { $0.requiresGrad }) else { return out }
        out.requiresGrad = true
        out.parents = inputs
        out.backwardFn = backward
        out.recordingOp = op
        return out
    }
}

/// Throws a shape error naming the op unless `ok`.
@inline(__always)
func check(_ ok: Bool, _ message: @autoclosure () -> String) throws {
    if !ok { throw TensorError(message()) }
}
