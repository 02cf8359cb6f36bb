import Foundation
import Tensor

/// One layer's weights. `Matrix` is a [out, in] view into the policy's arena (`Policy.Layer`) or its bf16
/// panels (`DecodeWeights.Layer`); norms and biases are tensors either way.
struct LayerWeights<Matrix> {
    let inputNorm: Tensor    // [D]
    let qkv: Matrix          // [(H + 2 KV) hd, D]: q_proj, k_proj, v_proj stacked
    let qkvBias: Tensor?     // [(H + 2 KV) hd]: their biases (Qwen2)
    let o: Matrix            // [D, H hd]
    let postNorm: Tensor     // [D]
    let gateUp: Matrix       // [2F, D]: gate_proj, up_proj stacked (adjacent in the arena)
    let down: Matrix         // [D, F]
}

/// A weight matrix of a layer, as a forward pass names it.
enum Projection {
    case qkv(Int), o(Int), gateUp(Int), down(Int)

    /// This matrix among `layers`.
    func of<M>(_ layers: [LayerWeights<M>]) -> M {
        switch self {
        case .qkv(let i): return layers[i].qkv
        case .o(let i): return layers[i].o
        case .gateUp(let i): return layers[i].gateUp
        case .down(let i): return layers[i].down
        }
    }
}

/// An RMSNorm weight: a layer's input or post-attention norm, or the final norm.
enum NormWeight {
    case input(Int), post(Int), final

    /// This norm among `layers`, or `final`.
    func of<M>(_ layers: [LayerWeights<M>], final: Tensor) -> Tensor {
        switch self {
        case .input(let i): return layers[i].inputNorm
        case .post(let i): return layers[i].postNorm
        case .final: return final
        }
    }
}

/// One way of computing the model's block order (`Policy.forward`): the training forward (`TrainingPass`:
/// taped tensors over a packed batch) and the decode session (`DecodePass`: raw kernels on its scratch, with
/// a KV cache). Each step names its weights by layer, and each pass reads them from the policy's `Layer`
/// views (the decode pass from their bf16 panels when it computes in bf16).
protocol ForwardPass {
    associatedtype Rows
    /// What a step can throw (the decode pass: nothing).
    associatedtype Failure: Error
    /// The token embeddings of the rows: x [n, D].
    mutating func embed() throws(Failure) -> Rows
    /// rmsNorm(x) with `weight`: [n, D].
    mutating func norm(_ x: Rows, _ weight: NormWeight) throws(Failure) -> Rows
    /// h W_qkvᵀ (+ the q/k/v biases), with RoPE applied to q and k: [n, (H + 2 KV) hd].
    mutating func projectQKV(_ h: Rows, layer: Int) throws(Failure) -> Rows
    /// Causal grouped-query attention of each row over the keys and values its sequence holds: [n, H hd].
    mutating func attend(_ qkv: Rows, layer: Int) throws(Failure) -> Rows
    /// x + input Wᵀ (the residual add), and its rmsNorm with `norm`: the next sub-block's input.
    mutating func addProjected(_ x: Rows, _ input: Rows, _ w: Projection, norm: NormWeight) throws(Failure) -> (x: Rows, h: Rows)
    /// swiglu(h W_gateUpᵀ): [n, F].
    mutating func mlp(_ h: Rows, layer: Int) throws(Failure) -> Rows
}

extension Policy {
    /// THE model, written once: embedding, then per layer RMSNorm -> q/k/v projection (+ biases) -> RoPE ->
    /// causal grouped-query attention -> output projection added to the residual -> RMSNorm -> gate/up
    /// projection -> SwiGLU -> down projection added to the residual; the final RMSNorm. Each residual add is
    /// fused with the norm that follows it. -> the final-normed hidden states [n, D]
    func forward<Pass: ForwardPass>(_ pass: inout Pass) throws(Pass.Failure) -> Pass.Rows {
        var x = try pass.embed()
        var h = try pass.norm(x, .input(0))
        for i in layers.indices {
            let qkv = try pass.projectQKV(h, layer: i)
            let a = try pass.attend(qkv, layer: i)
            (x, h) = try pass.addProjected(x, a, .o(i), norm: .post(i))
            let m = try pass.mlp(h, layer: i)
            (x, h) = try pass.addProjected(x, m, .down(i), norm: i + 1 < layers.count ? .input(i + 1) : .final)
        }
        return h
    }

    func weight(_ p: Projection) -> Tensor { p.of(layers) }

    func weight(_ n: NormWeight) -> Tensor { n.of(layers, final: finalNorm) }
}

/// The training forward: taped tensor ops over the rows of an attention layout.
struct TrainingPass: ForwardPass {
    typealias Failure = any Error
    let policy: Policy
    let tokens: [Int32]
    let layout: AttentionLayout
    let positions: [Int32]

    func embed() throws -> Tensor { try embedding(policy.embed, ids: tokens) }

    func norm(_ x: Tensor, _ weight: NormWeight) throws -> Tensor {
        try rmsNorm(x, weight: policy.weight(weight), eps: policy.config.normEps)
    }

    func projectQKV(_ h: Tensor, layer: Int) throws -> Tensor {
        let c = policy.config
        var qkv = try linear(h, policy.layers[layer].qkv)
        if let b = policy.layers[layer].qkvBias { qkv = try addBias(qkv, b) }
        return try ropeQK(qkv, positions: positions, heads: c.heads, kvHeads: c.kvHeadCount, theta: c.ropeTheta,
                          scaling: c.ropeScaling)
    }

    func attend(_ qkv: Tensor, layer: Int) throws -> Tensor {
        try causalAttention(qkv, layout: layout, heads: policy.config.heads, kvHeads: policy.config.kvHeadCount)
    }

    func addProjected(_ x: Tensor, _ input: Tensor, _ w: Projection, norm: NormWeight) throws -> (x: Tensor, h: Tensor) {
        let r = try addRMSNorm(x, try linear(input, policy.weight(w)), weight: policy.weight(norm), eps: policy.config.normEps)
        return (r.sum, r.normed)
    }

    func mlp(_ h: Tensor, layer: Int) throws -> Tensor {
        try swiglu(gateUp: try linear(h, policy.layers[layer].gateUp))
    }
}
