import Foundation
import Tensor

/// The weights a decode session computes with (its products; the trainer always computes in fp32).
public enum WeightFormat: String, Codable, CaseIterable, Sendable {
    /// The policy's own values: on AVX-512 CPUs copied into fp32 panels (`PanelMatrix`, see
    /// `usesDecodeWeights`), elsewhere read in place.
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
    /// Whether a decode session of `slots` sequences on a model with `parameters` parameters computes with its
    /// own `DecodeWeights`: bf16 and q8 always; fp16 never (it reads a rounded copy of the policy in place).
    /// fp32 does where this CPU runs the AVX-512 panel kernel, the session can have steps of more than
    /// `fp32PanelMinRows - 1` rows, and the copy (4 B per parameter) takes at most a quarter of memory: panels
    /// are read front to back, one stream per worker, where the policy's weights in place are 12 strided row
    /// streams per tile (the AVX2 tiles gained nothing from panels). Figures: docs/PERFORMANCE.md.
    public func usesDecodeWeights(parameters: Int, slots: Int) -> Bool {
        switch self {
        case .bf16, .q8: return true
        case .fp16: return false
        case .fp32:
            return Kernels.useAVX512 && slots >= Self.fp32PanelMinRows
                && 16 * parameters <= Int(ProcessInfo.processInfo.physicalMemory)
        }
    }

    /// Products of fewer rows read fp32 weights in place even where a session has fp32 panels: the 16-row panel
    /// tile does the FMAs of 16 rows whatever the count, and up to 8 rows the in-place tiles, which stream the
    /// weights no slower, were as fast or faster (SmolLM2 on Zen 4, new tokens/s in place against panels:
    /// batch 4 125 and 108, batch 8 about 245 both, batch 12 228 and 258, batch 16 261 and 314).
    public static let fp32PanelMinRows = 9

    /// Bytes a decode session holds beside the policy's own weights: its `DecodeWeights`, or fp16's rounded copy.
    public func sessionBytes(parameters p: Int, slots: Int) -> Int {
        switch self {
        case .fp32: return usesDecodeWeights(parameters: p, slots: slots) ? 4 * p : 0
        case .bf16: return 2 * p
        case .fp16: return 4 * p
        case .q8: return 5 * p / 4
        }
    }

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
