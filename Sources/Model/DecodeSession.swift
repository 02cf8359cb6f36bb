import Foundation
import Tensor

/// Batched incremental inference with a KV cache. Each slot holds one sequence with its own length; one
/// `feed` call appends tokens to any number of slots at once (a prefill is several tokens for one slot,
/// a decode step is one token for each live slot) and returns logits only after each item's last token.
///
/// Cache layout per layer: K and V are [slots, KV heads, maxLen, hd], so one head's keys are contiguous and
/// a decode step streams through them. A row (slot, pos) sees positions 0...pos of its own slot only, so
/// sequences of different lengths never interact and need no padding.
public final class DecodeSession {
    public let policy: Policy
    public let slots: Int
    public let maxLen: Int
    /// The format K and V are rounded to as they enter the cache (fp32: none); see `NumberFormat`.
    public let cacheFormat: NumberFormat
    /// The format the session computes with the weights in (`WeightFormat`): fp16 reads a rounded copy of the
    /// policy, bf16 and q8 their `DecodeWeights`, fp32 its fp32 `DecodeWeights` or the policy itself
    /// (`WeightFormat.usesDecodeWeights`).
    public let weightFormat: WeightFormat
    let packed: DecodeWeights?
    public private(set) var lengths: [Int]
    let keys: [UnsafeMutablePointer<Float>]        // per layer [slots, KV heads, maxLen, hd]
    let values: [UnsafeMutablePointer<Float>]
    let ropeCos: [Float], ropeSin: [Float]     // [maxLen, hd/2]
    private let scratches = (0..<max(1, Threads.count)).map { _ in DecodeScratch() }   // one per worker

    /// The weights are read when the session is made: make a new session after the policy changes.
    public init(policy: Policy, slots: Int, maxLen: Int, cacheFormat: NumberFormat = .fp32,
                weightFormat: WeightFormat = .fp32) throws {
        let c = policy.config
        guard slots > 0, maxLen > 0 else { throw TensorError("DecodeSession needs slots > 0 and maxLen > 0") }
        self.policy = weightFormat == .fp16 ? try policy.copy(rounded: .fp16) : policy
        packed = weightFormat.usesDecodeWeights(parameters: policy.parameterCount, slots: slots)
            ? try DecodeWeights(policy: policy, format: weightFormat) : nil
        self.slots = slots
        self.maxLen = maxLen
        self.cacheFormat = cacheFormat
        self.weightFormat = weightFormat
        lengths = [Int](repeating: 0, count: slots)
        let n = slots * maxLen * c.kvHeadCount * c.headDim
        keys = (0..<c.layers).map { _ in .allocate(capacity: n) }
        values = (0..<c.layers).map { _ in .allocate(capacity: n) }
        var cos = [Float](repeating: 0, count: maxLen * c.headDim / 2), sin = cos
        cos.withUnsafeMutableBufferPointer { cp in
            sin.withUnsafeMutableBufferPointer { sp in
                Kernels.ropeTables(positions: maxLen, headDim: c.headDim, theta: c.ropeTheta, scaling: c.ropeScaling,
                                   cos: cp.baseAddress!, sin: sp.baseAddress!)
            }
        }
        ropeCos = cos; ropeSin = sin
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    /// Where (slot, KV head, position) sits in a layer's `keys` or `values`.
    func cacheOffset(slot: Int, head: Int, position: Int = 0) -> Int {
        ((slot * policy.config.kvHeadCount + head) * maxLen + position) * policy.config.headDim
    }

    /// Forgets a slot's sequence so it can hold a new one.
    public func reset(_ slot: Int) { lengths[slot] = 0 }

    /// Keeps the first `n` tokens of a slot's sequence; the rest are fed again.
    public func truncate(_ slot: Int, to n: Int) throws {
        guard n >= 0 && n <= lengths[slot] else {
            throw TensorError("DecodeSession.truncate: slot \(slot) holds \(lengths[slot]) tokens, cannot keep \(n)")
        }
        lengths[slot] = n
    }

    /// Appends each item's tokens to its slot and returns logits [items.count, V] (row i = after the last
    /// token of item i). A slot may appear at most once per call.
    public func feed(_ items: [(slot: Int, tokens: [Int32])]) throws -> [Float] {
        try feed(items, scoreFedAt: nil).logits
    }

    /// `feed`, and with a temperature also `fedLogProbs` [sum of (tokens.count - 1)]: item by item, the
    /// log-prob of each of its tokens after the first given the tokens before it, under logits / temperature
    /// (0 counts as 1), as a full forward gives them (an observation prefill scores the observation). They are
    /// computed a few rows at a time, never as [rows, V] logits. `logits` is computed exactly as without them.
    ///
    /// Items that start empty slots with the same tokens (the samples of one prompt) are computed once: the
    /// first of them runs the forward, the others copy its cache rows, logits and fed log-probs.
    public func feed(_ items: [(slot: Int, tokens: [Int32])],
                     scoreFedAt temperature: Float?) throws -> (logits: [Float], fedLogProbs: [Float]) {
        var firstWith: [[Int32]: Int] = [:], source = Array(items.indices)
        for (i, item) in items.enumerated() where item.slot >= 0 && item.slot < slots && lengths[item.slot] == 0
                                                  && !item.tokens.isEmpty {
            if let j = firstWith[item.tokens] { source[i] = j } else { firstWith[item.tokens] = i }
        }
        guard source != Array(items.indices) else { return try compute(items, scoreFedAt: temperature) }
        let unique = items.indices.filter { source[$0] == $0 }
        guard Set(items.map(\.slot)).count == items.count else {   // (the computed items check the rest)
            throw TensorError("DecodeSession.feed: a slot is repeated")
        }
        let (uniqueLogits, uniqueFed) = try compute(unique.map { items[$0] }, scoreFedAt: temperature)
        let c = policy.config, v = c.vocab
        var at = [Int](repeating: -1, count: items.count)
        for (k, i) in unique.enumerated() { at[i] = k }
        var fedAt = [0]   // start of each unique item's fed log-probs
        for i in unique { fedAt.append(fedAt.last! + items[i].tokens.count - 1) }
        var logits: [Float] = [], fed: [Float] = []
        logits.reserveCapacity(items.count * v)
        for (i, item) in items.enumerated() {
            let k = at[source[i]]
            logits += uniqueLogits[(k * v)..<((k + 1) * v)]
            if temperature != nil { fed += uniqueFed[fedAt[k]..<fedAt[k + 1]] }
            guard source[i] != i else { continue }
            let from = items[source[i]].slot, n = item.tokens.count
            for layer in 0..<c.layers {   // each KV head's first n positions
                for h in 0..<c.kvHeadCount {
                    let src = cacheOffset(slot: from, head: h), dst = cacheOffset(slot: item.slot, head: h)
                    (keys[layer] + dst).update(from: keys[layer] + src, count: n * c.headDim)
                    (values[layer] + dst).update(from: values[layer] + src, count: n * c.headDim)
                }
            }
            lengths[item.slot] = n
        }
        return (logits, fed)
    }

    /// `feed` without the sharing of repeated items.
    private func compute(_ items: [(slot: Int, tokens: [Int32])],
                         scoreFedAt temperature: Float?) throws -> (logits: [Float], fedLogProbs: [Float]) {
        let v = policy.config.vocab
        var rowSlot: [Int] = [], rowPos: [Int32] = [], rowToken: [Int32] = [], lastRow: [Int] = []
        var seen = Set<Int>()
        for item in items {
            guard item.slot >= 0, item.slot < slots, seen.insert(item.slot).inserted else {
                throw TensorError("DecodeSession.feed: slot \(item.slot) is out of range 0..<\(slots) or repeated")
            }
            guard !item.tokens.isEmpty else { throw TensorError("DecodeSession.feed: empty token list for slot \(item.slot)") }
            guard lengths[item.slot] + item.tokens.count <= maxLen else {
                throw TensorError("DecodeSession.feed: slot \(item.slot) would exceed its cache of \(maxLen) positions")
            }
            for (j, t) in item.tokens.enumerated() {
                guard t >= 0, Int(t) < v else { throw TensorError("DecodeSession.feed: token id \(t) outside 0..<\(v)") }
                rowSlot.append(item.slot); rowPos.append(Int32(lengths[item.slot] + j)); rowToken.append(t)
            }
            lastRow.append(rowSlot.count - 1)
        }
        let rows = RowTable(slot: rowSlot, pos: rowPos, token: rowToken, last: lastRow)
        // Every row is written by the head (a zero fill would touch 3 MB per decode step of 16 rows).
        var logits = [Float](unsafeUninitializedCapacity: lastRow.count * v) { _, count in count = lastRow.count * v }
        var fedLogProbs = [Float](repeating: 0, count: temperature != nil ? rowSlot.count - lastRow.count : 0)
        if let t = temperature, !(t.isFinite && t >= 0) {
            throw TensorError("DecodeSession.feed: temperature must be finite and >= 0, got \(t)")
        }
        logits.withUnsafeMutableBufferPointer { lp in
            fedLogProbs.withUnsafeMutableBufferPointer { fp in
                let groups = workerGroups(rows)
                // A group's fed rows follow the fed rows of the items before it: (first row - first item) rows in.
                func fed(_ g: (items: Range<Int>, rows: Range<Int>)) -> (out: UnsafeMutablePointer<Float>, temperature: Float)? {
                    guard let temperature, let base = fp.baseAddress else { return nil }
                    return (base + g.rows.lowerBound - g.items.lowerBound, temperature)
                }
                if groups.count == 1 {
                    forward(rows, rows: 0..<rowSlot.count, items: 0..<lastRow.count, scratch: scratches[0],
                            logits: lp.baseAddress!, fed: fed(groups[0]))
                } else {
                    // Few rows (decode steps): one fork per step, each worker runs whole items through every layer
                    // with single-threaded kernels (a fork inside the pool's job runs inline), instead of forking
                    // per GEMM and per attention: a decode step is too small to pay for many forks
                    // (docs/PERFORMANCE.md, decoding).
                    Kernels.withSingleThreadedBLAS {
                        parallelFor(groups.count) { range in
                            for g in range {
                                forward(rows, rows: groups[g].rows, items: groups[g].items, scratch: scratches[g],
                                        logits: lp.baseAddress! + groups[g].items.lowerBound * v, fed: fed(groups[g]))
                            }
                        }
                    }
                }
            }
        }
        for r in 0..<rowSlot.count { lengths[rowSlot[r]] = max(lengths[rowSlot[r]], Int(rowPos[r]) + 1) }
        return (logits, fedLogProbs)
    }

    /// Feeds of at most this many rows, and decode steps (one row per item) of any size, are split by items
    /// over the workers; larger prefills split each GEMM instead, where one product has enough work for every
    /// worker. Both sides of the threshold were measured (docs/PERFORMANCE.md, decoding).
    static let itemSplitMaxRows = 64

    /// Splitting by items makes every worker stream all the weights. That is cheap while they stay in the
    /// last-level cache, and doubles the memory traffic of a bandwidth-bound step when they do not: then each
    /// GEMM is split over output features instead, so the weights are read once per step. The cache counted
    /// is at most 64 MiB: a VM can report its host's whole L3 (260 MB on one), shared with other guests, where
    /// SmolLM2's 269 MB of bf16 weights decoded 35% slower split by items.
    private lazy var weightsFitInCache: Bool = (packed?.byteCount ?? policy.parameterCount * 4) <= min(lastLevelCacheBytes(), 64 << 20)

    /// Consecutive item ranges with about equal row counts, one per worker (one range when not worth it).
    private func workerGroups(_ t: RowTable) -> [(items: Range<Int>, rows: Range<Int>)] {
        let items = t.last.count, n = t.slot.count
        let parts = min(Threads.count, items, scratches.count)
        guard parts > 1, weightsFitInCache, n <= Self.itemSplitMaxRows || n == items else {
            return [(0..<items, 0..<n)]
        }
        var groups: [(items: Range<Int>, rows: Range<Int>)] = []
        var item = 0, row = 0
        for p in 0..<parts {
            var end = item + 1                       // at least one item per group
            if p == parts - 1 {
                end = items
            } else {                                 // add items while they end before this group's share of rows
                while end < items - (parts - 1 - p) && t.last[end] < n * (p + 1) / parts { end += 1 }
            }
            let rowEnd = t.last[end - 1] + 1
            groups.append((item..<end, row..<rowEnd))
            item = end; row = rowEnd
        }
        return groups
    }

    /// Runs rows `rows` (whole items `items`) through the model (`DecodePass`), writing into the KV cache and
    /// the logits of those items.
    private func forward(_ t: RowTable, rows: Range<Int>, items: Range<Int>, scratch: DecodeScratch,
                         logits: UnsafeMutablePointer<Float>, fed: (out: UnsafeMutablePointer<Float>, temperature: Float)?) {
        let c = policy.config, d = c.dim, v = c.vocab, n = rows.count, r0 = rows.lowerBound
        scratch.reserve(rows: n, dim: d, qkv: c.qkvDim, attention: c.attentionDim, ffn: c.ffn)
        var pass = DecodePass(session: self, scratch: scratch, slots: Array(t.slot[rows]), positions: Array(t.pos[rows]),
                              tokens: Array(t.token[rows]))
        let h = policy.forward(&pass).data                     // final-normed [n, D]
        // The head for the rows whose logits are wanted, gathered into x (free after the forward).
        let picked = scratch.x
        func head(_ rs: [Int], into out: UnsafeMutablePointer<Float>) {
            for (k, r) in rs.enumerated() { (picked + k * d).update(from: h + r * d, count: d) }
            rowsLinear(picked, lda: d, policy.head.data, out, rows: rs.count, outDim: v, inDim: d, beta: 0, packed: packed?.head)
        }
        let lastRows = t.last[items].map { $0 - r0 }
        head(lastRows, into: logits)
        // The other rows score the token after them, in calls of their own so the last rows' logits do not
        // depend on scoring: `fedChunk` rows at a time through a [fedChunk, V] buffer.
        guard let fed, n > lastRows.count else { return }
        let isLast = Set(lastRows)
        let fedRows = (0..<n).filter { !isLast.contains($0) }   // each has its item's next row after it
        let chunk = UnsafeMutablePointer<Float>.allocate(capacity: min(Self.fedChunk, fedRows.count) * v)
        defer { chunk.deallocate() }
        for c0 in stride(from: 0, to: fedRows.count, by: Self.fedChunk) {
            let rs = Array(fedRows[c0 ..< min(c0 + Self.fedChunk, fedRows.count)])
            head(rs, into: chunk)
            for (k, r) in rs.enumerated() {
                fed.out[c0 + k] = Kernels.logProb(row: chunk + k * v, v, target: Int(t.token[r0 + r + 1]),
                                                  temperature: fed.temperature)
            }
        }
    }

    /// Fed rows scored per head product (at most `smallRowsMax`, so decode's few-row kernels run it).
    static let fedChunk = 32

    /// out[rows, outDim] = x[rows, inDim] Wᵀ + beta * out, W in the [out, in] layout, or its `packed` panels or q8
    /// form when the session computes in one (any row count: a prefill too, so every token sees the same weights;
    /// fp32 panels from `WeightFormat.fp32PanelMinRows` rows, the same values as in place).
    /// Otherwise up to `Kernels.smallRowsMax` rows go to `Kernels.smallRowsLinear` (streams W in place, 8-row
    /// register tiles); more to `Kernels.sgemm`, which splits C's longer side over the workers.
    func rowsLinear(_ x: UnsafePointer<Float>, lda: Int, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                    rows: Int, outDim: Int, inDim: Int, beta: Float, packed: (any DecodeMatrix)?) {
        if let packed, weightFormat != .fp32 || rows >= WeightFormat.fp32PanelMinRows {
            packed.linear(x: x, lda: lda, out: out, rows: rows, beta: beta)
        } else if rows <= Kernels.smallRowsMax {
            Kernels.smallRowsLinear(x: x, lda: lda, w: w, out: out, rows: rows, outDim: outDim,
                                    inDim: inDim, beta: beta)
        } else {
            Kernels.sgemm(transA: false, transB: true, m: rows, n: outDim, k: inDim, a: x, lda: lda, b: w,
                          ldb: inDim, beta: beta, c: out, ldc: outDim)
        }
    }
}

/// The rows of one feed call: slot, position and token of each row, and each item's last row.
private struct RowTable {
    var slot: [Int], pos: [Int32], token: [Int32], last: [Int]
}

/// The size of the last-level cache this CPU's core 0 sits behind, from sysfs ("32768K"), or 32 MiB when
/// unknown. (sysconf's figure can be the whole package's, e.g. 12 chiplets' L3 together on an EPYC.)
func lastLevelCacheBytes() -> Int {
    let text = (try? String(contentsOfFile: "/sys/devices/system/cpu/cpu0/cache/index3/size", encoding: .utf8)) ?? ""
    let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
    let unit = t.last.map { ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30][String($0)] ?? 1 } ?? 1
    let digits = t.hasSuffix("K") || t.hasSuffix("M") || t.hasSuffix("G") ? String(t.dropLast()) : t
    if let n = Int(digits), n > 0 { return n * unit }
    return 32 << 20
}
