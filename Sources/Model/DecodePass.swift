import Foundation
import Tensor

/// The decode session's forward of some rows (whole items of one feed call) through `Policy.forward`: raw
/// kernels on one worker's scratch, each row's keys and values written into the session's cache as its
/// attention runs. With `DecodeWeights` (bf16, q8, and fp32 panels on AVX-512, there for products of
/// `WeightFormat.fp32PanelMinRows` rows or more) every product reads them (with bf16 every
/// norm its rounded weights too, so the rows see exactly the policy rounded to bf16).
struct DecodePass: ForwardPass {
    typealias Failure = Never

    /// Rows of an activation in a scratch buffer, `stride` floats apart.
    struct Rows {
        let data: UnsafeMutablePointer<Float>
        let stride: Int
    }

    let session: DecodeSession
    let scratch: DecodeScratch
    let slots: [Int], positions: [Int32], tokens: [Int32]
    var n: Int { tokens.count }
    var config: PolicyConfig { session.policy.config }

    func embed() -> Rows {
        let d = config.dim
        tokens.withUnsafeBufferPointer { ids in
            Kernels.embedding(table: session.policy.embed.data, ids: ids.baseAddress!, count: n, dim: d, out: scratch.x)
        }
        if session.packed?.roundsEmbeddings == true { NumberFormat.bf16.round(scratch.x, count: n * d) }
        return Rows(data: scratch.x, stride: d)
    }

    func norm(_ x: Rows, _ weight: NormWeight) -> Rows {
        let w = session.packed?.norm(weight) ?? session.policy.weight(weight)
        Kernels.rmsNorm(x: x.data, weight: w.data, rows: n, dim: config.dim, eps: config.normEps, out: scratch.h, rstd: nil)
        return Rows(data: scratch.h, stride: config.dim)
    }

    func projectQKV(_ h: Rows, layer: Int) -> Rows {
        let c = config, width = c.qkvDim, qkv = scratch.qkv
        linear(h, .qkv(layer), out: qkv, beta: 0)
        if let b = session.packed?.layers[layer].qkvBias ?? session.policy.layers[layer].qkvBias {
            for r in 0..<n { Kernels.add(qkv + r * width, b.data, out: qkv + r * width, count: width) }
        }
        positions.withUnsafeBufferPointer { pos in
            session.ropeCos.withUnsafeBufferPointer { cp in
                session.ropeSin.withUnsafeBufferPointer { sp in   // q and k are adjacent: rotate H + KV heads at once
                    Kernels.ropeInPlace(x: qkv, rowStride: width, rows: n, heads: c.heads + c.kvHeadCount, headDim: c.headDim,
                                        positions: pos.baseAddress!, cos: cp.baseAddress!, sin: sp.baseAddress!)
                }
            }
        }
        return Rows(data: qkv, stride: width)
    }

    /// Writes each row's k and v into the cache (rounded to its format), then attends: row r's query heads over
    /// positions 0...pos of its own slot, in parallel over (row, head) (inline when called from a worker of
    /// the item split).
    func attend(_ qkv: Rows, layer: Int) -> Rows {
        let c = config, hd = c.headDim, heads = c.heads, kv = c.kvHeadCount, maxLen = session.maxLen
        let attD = c.attentionDim, group = heads / kv, keys = session.keys[layer], values = session.values[layer]
        for r in 0..<n {
            let row = qkv.data + r * qkv.stride
            for hh in 0..<kv {
                let at = session.cacheOffset(slot: slots[r], head: hh, position: Int(positions[r]))
                (keys + at).update(from: row + attD + hh * hd, count: hd)
                (values + at).update(from: row + attD + (kv + hh) * hd, count: hd)
                session.cacheFormat.round(keys + at, count: hd)
                session.cacheFormat.round(values + at, count: hd)
            }
        }
        let out = scratch.att
        slots.withUnsafeBufferPointer { slotOf in
            positions.withUnsafeBufferPointer { posOf in
                parallelFor(n * heads, minChunk: 4) { range in
                    let p = UnsafeMutablePointer<Float>.allocate(capacity: maxLen)
                    defer { p.deallocate() }
                    for job in range {
                        let r = job / heads, hh = job % heads
                        let base = session.cacheOffset(slot: slotOf[r], head: hh / group)
                        Kernels.decodeAttention(q: qkv.data + r * qkv.stride + hh * hd, keys: keys + base, values: values + base,
                                                count: Int(posOf[r]) + 1, headDim: hd, out: out + r * attD + hh * hd, scores: p)
                    }
                }
            }
        }
        return Rows(data: out, stride: attD)
    }

    func addProjected(_ x: Rows, _ input: Rows, _ w: Projection, norm weight: NormWeight) -> (x: Rows, h: Rows) {
        linear(input, w, out: x.data, beta: 1)                                     // x += input Wᵀ
        return (x, norm(x, weight))
    }

    func mlp(_ h: Rows, layer: Int) -> Rows {
        let f = config.ffn, gu = scratch.gu
        linear(h, .gateUp(layer), out: gu, beta: 0)                                // gate | up: [n, 2F]
        parallelFor(n) { rows in
            for r in rows { Kernels.swiglu(gate: gu + r * 2 * f, up: gu + r * 2 * f + f, out: gu + r * 2 * f, count: f) }
        }
        return Rows(data: gu, stride: 2 * f)                                       // [n, F] in the gate halves
    }

    /// out[n, out] = x Wᵀ + beta * out.
    private func linear(_ x: Rows, _ w: Projection, out: UnsafeMutablePointer<Float>, beta: Float) {
        let weight = session.policy.weight(w)
        session.rowsLinear(x.data, lda: x.stride, weight.data, out, rows: n, outDim: weight.shape[0], inDim: weight.shape[1],
                           beta: beta, packed: session.packed?.matrix(w))
    }
}

/// Growable scratch buffers of one worker of a decode session.
/// Owned by the session and freed with it (a struct here leaked every session's buffers).
final class DecodeScratch {
    var rows = 0
    var x = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var h = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var qkv = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var att = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var gu = UnsafeMutablePointer<Float>.allocate(capacity: 1)

    deinit { for p in [x, h, qkv, att, gu] { p.deallocate() } }

    func reserve(rows n: Int, dim d: Int, qkv width: Int, attention a: Int, ffn f: Int) {
        guard n > rows else { return }
        for p in [x, h, qkv, att, gu] { p.deallocate() }
        x = .allocate(capacity: n * d); h = .allocate(capacity: n * d); qkv = .allocate(capacity: n * width)
        att = .allocate(capacity: n * a); gu = .allocate(capacity: n * 2 * f)
        rows = n
    }
}
