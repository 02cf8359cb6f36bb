import Foundation
import Tensor

/// The weights a decode session computes with (its products; the trainer always computes in fp32).
public enum WeightFormat: String, Codable, CaseIterable, Sendable {
    /// The policy's own.
    case fp32
    /// Rounded to bf16 and stored as bf16 (`PanelMatrix`): half the bytes a step streams, products summed in
    /// fp32 over exactly the rounded weights; norms and embeddings rounded too.
    case bf16
    /// A copy of the policy rounded to fp16, computed in fp32.
    case fp16
    /// 8-bit blocks of 32 (`Q8Matrix`) for every linear weight and the head, each product's input rows
    /// quantized to 15-bit blocks and the products summed in integers (AVX512-VNNI's vpdpbusd, or AVX2's
    /// vpmaddwd). Norms, biases, embeddings and attention stay fp32.
    case q8
}

extension WeightFormat {
    /// Why this format is a poor choice on this CPU, or nil: q8 on a CPU without AVX2 runs the plain C loops
    /// (the same values, about 20 times slower than the VNNI kernel and slower than fp32).
    public var slowHere: String? {
        self == .q8 && Kernels.q8Kernel == .plain
            ? "q8 weights on a CPU without AVX2 run in plain C, slower than fp32: use bf16 or fp32 here"
            : nil
    }
}

/// A weight matrix stored for decode steps in a reduced format: bf16 panels or q8 blocks.
protocol DecodeMatrix: AnyObject {
    /// Bytes a product streams.
    var byteCount: Int { get }
    /// out[rows, outDim] = x[rows, inDim] Wᵀ + beta * out (x with row stride lda; beta 0 ignores out).
    func linear(x: UnsafePointer<Float>, lda: Int, out: UnsafeMutablePointer<Float>, rows: Int, beta: Float)
}

extension PanelMatrix: DecodeMatrix {}
extension Q8Matrix: DecodeMatrix {}
