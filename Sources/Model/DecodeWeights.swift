import Foundation
import Tensor

/// What a decode session with its own weights reads (`WeightFormat.usesDecodeWeights`): every linear weight and
/// the head as a `DecodeMatrix`, bf16 or fp32 panels or q8 blocks.
/// With bf16 (`PanelMatrix`: half the bytes a step streams) norms and biases are rounded to bf16 too, and
/// embedding rows as they are gathered (`roundsEmbeddings`), so the session computes exactly with the policy's
/// weights rounded to bf16. With q8 (`Q8Matrix`) only the products change, with fp32 only their order of
/// summation; norms, biases and embeddings are the policy's.
final class DecodeWeights {
    typealias Layer = LayerWeights<any DecodeMatrix>
    let format: WeightFormat
    let layers: [Layer]
    let finalNorm: Tensor
    let head: any DecodeMatrix

    /// `format` fp32, bf16 or q8.
    init(policy: Policy, format: WeightFormat) throws {
        precondition(format != .fp16, "DecodeWeights holds fp32, bf16 or q8 weights")
        let c = policy.config
        self.format = format
        func matrix(_ w: Tensor, _ outDim: Int, _ inDim: Int) throws -> any DecodeMatrix {
            if format == .q8 {
                let m = try Q8Matrix(outDim: outDim, inDim: inDim)
                m.fill(from: w.data)
                return m
            }
            let m = try PanelMatrix(outDim: outDim, inDim: inDim, format: format == .bf16 ? .bf16 : .fp32)
            m.fill(from: w.data)
            return m
        }
        func rounded(_ t: Tensor) -> Tensor {
            if format != .bf16 { return t }
            let r = Tensor(zeros: t.shape)
            r.data.update(from: t.data, count: t.count)
            NumberFormat.bf16.round(r.data, count: r.count)
            return r
        }
        layers = try policy.layers.map { l in
            Layer(inputNorm: rounded(l.inputNorm), qkv: try matrix(l.qkv, c.qkvDim, c.dim), qkvBias: l.qkvBias.map(rounded),
                  o: try matrix(l.o, c.dim, c.attentionDim), postNorm: rounded(l.postNorm),
                  gateUp: try matrix(l.gateUp, 2 * c.ffn, c.dim), down: try matrix(l.down, c.dim, c.ffn))
        }
        finalNorm = rounded(policy.finalNorm)
        head = try matrix(policy.head, c.vocab, c.dim)
    }

    /// Whether embedding rows are rounded to bf16 as they are gathered.
    var roundsEmbeddings: Bool { format == .bf16 }

    func matrix(_ p: Projection) -> any DecodeMatrix { p.of(layers) }

    func norm(_ n: NormWeight) -> Tensor { n.of(layers, final: finalNorm) }

    /// Bytes of weights one decode step streams.
    var byteCount: Int {
        layers.reduce(head.byteCount) { $0 + $1.qkv.byteCount + $1.o.byteCount + $1.gateUp.byteCount + $1.down.byteCount }
    }
}
