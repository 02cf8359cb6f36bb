import Foundation
import Tensor

/// What a decode session with bf16 weights reads: every linear weight and the head as a bf16 `PanelMatrix`
/// (half the bytes a decode step streams), norms and biases rounded to bf16. Embedding rows are rounded as
/// they are gathered, so the session computes exactly with the policy's weights rounded to bf16.
final class DecodeWeights {
    typealias Layer = LayerWeights<PanelMatrix>
    let layers: [Layer]
    let finalNorm: Tensor
    let head: PanelMatrix

    init(policy: Policy) throws {
        let c = policy.config
        func panels(_ w: Tensor, _ outDim: Int, _ inDim: Int) throws -> PanelMatrix {
            let m = try PanelMatrix(outDim: outDim, inDim: inDim)
            m.fill(from: w.data)
            return m
        }
        func rounded(_ t: Tensor) -> Tensor {
            let r = Tensor(zeros: t.shape)
            r.data.update(from: t.data, count: t.count)
            NumberFormat.bf16.round(r.data, count: r.count)
            return r
        }
        layers = try policy.layers.map { l in
            Layer(inputNorm: rounded(l.inputNorm), qkv: try panels(l.qkv, c.qkvDim, c.dim), qkvBias: l.qkvBias.map(rounded),
                  o: try panels(l.o, c.dim, c.attentionDim), postNorm: rounded(l.postNorm),
                  gateUp: try panels(l.gateUp, 2 * c.ffn, c.dim), down: try panels(l.down, c.dim, c.ffn))
        }
        finalNorm = rounded(policy.finalNorm)
        head = try panels(policy.head, c.vocab, c.dim)
    }

    func panels(_ p: Projection) -> PanelMatrix { p.of(layers) }

    func norm(_ n: NormWeight) -> Tensor { n.of(layers, final: finalNorm) }

    /// Bytes of weights one decode step streams.
    var byteCount: Int {
        layers.reduce(head.byteCount) { $0 + $1.qkv.byteCount + $1.o.byteCount + $1.gateUp.byteCount + $1.down.byteCount }
    }
}
