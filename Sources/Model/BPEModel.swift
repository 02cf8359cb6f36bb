/// Byte-level BPE proper, on one pre-tokenized piece: its bytes become the ids of their byte symbols, then the
/// adjacent pair with the lowest merge rank is merged, again and again, until no pair has a merge. Ties go to the
/// leftmost pair, which is the order of Hugging Face's `Word::merge_all` (a heap on rank, then position).
struct BPEModel: Sendable {
    /// The id of each byte's symbol; -1 where the vocabulary lacks it.
    let byteIds: [Int32]
    let merges: MergeTable
    /// HF `unk_token`: stands for a byte whose symbol is missing. Without one the byte is dropped, as HF does
    /// (SmolLM2's vocabulary lacks 21 byte symbols: "a\u{6}b" encodes as `a`, `b`).
    let unk: Int32?
    /// HF `fuse_unk`: consecutive unknown bytes of a piece give one `unk`.
    let fuseUnk: Bool
    /// HF `ignore_merges` (Llama-3): a piece that is itself a vocabulary token is taken whole. Nil when off.
    let wholeWords: [[UInt8]: Int32]?

    /// Appends the ids of `word` to `out`. `work` is scratch space reused across calls.
    func encode(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32], work: inout BPEWork) {
        if let wholeWords, let id = wholeWords[Array(word)] {
            out.append(id)
            return
        }
        // Symbols: one per byte, in a doubly linked list so that merging is O(1).
        work.reset()
        var lastWasUnknown = false
        for b in word {
            var id = byteIds[Int(b)]
            let unknown = id < 0
            if unknown {
                guard let unk, !(fuseUnk && lastWasUnknown) else { lastWasUnknown = unknown; continue }
                id = unk
            }
            lastWasUnknown = unknown
            work.append(id)
        }
        let n = work.ids.count
        if n > 1 { mergeAll(&work) }
        var i = n > 0 ? 0 : -1
        while i >= 0 {
            out.append(work.ids[i])
            i = Int(work.next[i])
        }
    }

    /// HF `Word::merge_all`: a min-heap of (rank, position) over the current adjacent pairs; a popped entry whose
    /// pair no longer exists (a neighbour merged away) is skipped. An entry is stale exactly when the pair at its
    /// position is now a different one, since symbols only grow; checking that the pair's rank is unchanged tells.
    private func mergeAll(_ w: inout BPEWork) {
        for i in 0..<(w.ids.count - 1) { pushPair(&w, at: i) }
        while let top = w.popMin() {
            let rank = top >> 32, pos = Int(top & 0xFFFF_FFFF)
            let right = Int(w.next[pos])
            guard w.ids[pos] >= 0, right >= 0 else { continue }
            let m = merges.lookup(w.ids[pos], w.ids[right])
            guard m != MergeTable.none, m >> 32 == rank else { continue }
            // Merge `right` into `pos`.
            w.ids[pos] = Int32(truncatingIfNeeded: m)
            w.ids[right] = -1
            let after = w.next[right]
            w.next[pos] = after
            if after >= 0 { w.prev[Int(after)] = Int32(pos) }
            let before = Int(w.prev[pos])
            if before >= 0 { pushPair(&w, at: before) }
            if after >= 0 { pushPair(&w, at: pos) }
        }
    }

    /// Queues the pair (symbol at i, its successor) if it has a merge.
    @inline(__always)
    private func pushPair(_ w: inout BPEWork, at i: Int) {
        let m = merges.lookup(w.ids[i], w.ids[Int(w.next[i])])
        if m != MergeTable.none { w.push((m >> 32) << 32 | UInt64(i)) }
    }
}

/// Scratch space of `BPEModel.encode`: the symbol list and the merge heap.
struct BPEWork {
    /// Symbol ids (-1: merged into its left neighbour) and the links of the list (-1: none).
    var ids: [Int32] = []
    var next: [Int32] = []
    var prev: [Int32] = []
    /// Min-heap of rank << 32 | position.
    var heap: [UInt64] = []

    mutating func reset() {
        ids.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)
    }

    mutating func append(_ id: Int32) {
        let i = Int32(ids.count)
        if i > 0 { next[Int(i) - 1] = i }
        ids.append(id)
        prev.append(i - 1)
        next.append(-1)
    }

    mutating func push(_ v: UInt64) {
        heap.append(v)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if heap[parent] <= v { break }
            heap[i] = heap[parent]
            i = parent
        }
        heap[i] = v
    }

    mutating func popMin() -> UInt64? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        let n = heap.count
        var i = 0
        while true {
            var child = 2 * i + 1
            if child >= n { break }
            if child + 1 < n && heap[child + 1] < heap[child] { child += 1 }
            if heap[child] >= last { break }
            heap[i] = heap[child]
            i = child
        }
        heap[i] = last
        return top
    }
}

/// The merges as a hash table from a pair of ids to rank << 32 | merged id: open addressing with linear probing and
/// a multiplicative hash, several times faster than a Dictionary on this hot path.
struct MergeTable: Sendable {
    static let none = UInt64.max
    private var keys: [UInt64]
    private var values: [UInt64]
    private let shift: UInt64
    private let mask: Int

    /// A table sized for `count` merges (load at most 1/2).
    init(count: Int) {
        var bits = 4
        while (1 << bits) < 2 * count { bits += 1 }
        keys = [UInt64](repeating: Self.none, count: 1 << bits)
        values = [UInt64](repeating: Self.none, count: 1 << bits)
        shift = UInt64(64 - bits)
        mask = (1 << bits) - 1
    }

    @inline(__always)
    private static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    @inline(__always)
    private func slot(_ k: UInt64) -> Int { Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// Sets the merge of (a, b); a pair listed twice keeps its last rank, as HF's merge map does.
    mutating func insert(_ a: Int32, _ b: Int32, rank: Int, result: Int32) {
        let k = Self.key(a, b)
        var i = slot(k)
        while keys[i] != Self.none && keys[i] != k { i = (i + 1) & mask }
        keys[i] = k
        values[i] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: result))
    }

    /// rank << 32 | merged id, or `MergeTable.none`.
    @inline(__always)
    func lookup(_ a: Int32, _ b: Int32) -> UInt64 {
        let k = Self.key(a, b)
        var i = slot(k)
        while true {
            let stored = keys[i]
            if stored == k { return values[i] }
            if stored == Self.none { return Self.none }
            i = (i + 1) & mask
        }
    }
}
