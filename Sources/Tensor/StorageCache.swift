import Foundation
import Synchronization

/// Reuses large tensor buffers across training steps instead of returning them to malloc.
///
/// A step allocates the same activation and gradient buffers as the step before. glibc serves those from a
/// per-thread arena, deletes the arena's 64 MB heap once it is empty again and maps a fresh one the next
/// step, so every step page-faulted its working set back in (zeroing each page) and unmapped it again
/// (docs/PERFORMANCE.md).
/// Buffers of at least `minBytes` are kept here by size class (`capacity`) and handed out again; smaller ones
/// stay with malloc, whose bins reuse them without touching the kernel.
enum StorageCache {
    static let minBytes = 256 << 10
    /// Cached (free) buffers beyond `Free.limit` bytes go back to malloc, least recently used size classes
    /// first, so a phase with other shapes (say evaluation after training) does not keep the old ones alive.
    /// By default a quarter of the machine's memory (at least 1 GiB): a real model's step (SmolLM2, 8 x 256
    /// tokens) frees about 5 GB of activations and gradients, which a smaller cache sent back to the kernel to
    /// be page-faulted in again the next step. A GRPO run with bounded micro-batches sets it to 0
    /// (`setStorageCacheLimit`).
    static let defaultLimit = max(1 << 30, Int(ProcessInfo.processInfo.physicalMemory / 4))

    private struct Free {
        var buffers: [Int: [UnsafeMutablePointer<Float>]] = [:]
        var lastUse: [Int: UInt64] = [:]   // per size class: the tick of its last allocation or return
        var tick: UInt64 = 0
        var bytes = 0
        var limit = StorageCache.defaultLimit

        /// Takes buffers out, the least recently used classes first and class `n` (just returned) last, until
        /// `bytes` fits the limit.
        mutating func evict(keeping n: Int, into out: inout [UnsafeMutablePointer<Float>]) {
            while bytes > limit {
                let others = buffers.keys.filter { $0 != n && !buffers[$0]!.isEmpty }
                guard let victim = others.min(by: { lastUse[$0, default: 0] < lastUse[$1, default: 0] })
                    ?? (buffers[n]?.isEmpty == false ? n : nil) else { return }
                out.append(buffers[victim]!.removeLast())
                bytes -= victim * 4
            }
        }
    }
    private static let free = Mutex(Free())

    /// Bytes of free buffers held now.
    static var cachedBytes: Int { free.withLock { $0.bytes } }

    /// Sets the most bytes of free buffers kept (evicting at once what exceeds it).
    static func setLimit(_ bytes: Int) {
        var out: [UnsafeMutablePointer<Float>] = []
        free.withLock { f in
            f.limit = max(0, bytes)
            f.evict(keeping: -1, into: &out)
        }
        for p in out { p.deallocate() }
    }

    /// The capacity a large buffer of `count` floats gets: `count` rounded up to one of 8 sizes per power of two
    /// (at most 12.5% more), so buffers of nearby sizes share a class. A real model's micro-batches are all
    /// of different widths; cached by exact size, the freed buffers of one would never serve the next.
    static func capacity(_ count: Int) -> Int {
        let n = max(count, 1)
        guard n * 4 >= minBytes else { return n }
        let step = 1 << max(0, (Int.bitWidth - 1 - (n - 1).leadingZeroBitCount) - 3)   // 2^(floor(log2(n-1)) - 3)
        return (n + step - 1) / step * step
    }

    /// Uninitialized storage for max(count, 1) floats.
    static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = capacity(count)
        if n * 4 >= minBytes, let p = free.withLock({ f -> UnsafeMutablePointer<Float>? in
            f.tick += 1
            f.lastUse[n] = f.tick
            guard let p = f.buffers[n]?.popLast() else { return nil }
            f.bytes -= n * 4
            return p
        }) {
            return p
        }
        return .allocate(capacity: n)
    }

    /// Returns storage obtained from `allocate(count)`.
    static func deallocate(_ p: UnsafeMutablePointer<Float>, count: Int) {
        let n = capacity(count)
        guard n * 4 >= minBytes else { p.deallocate(); return }
        var out: [UnsafeMutablePointer<Float>] = []
        free.withLock { f in
            guard n * 4 <= f.limit else { out.append(p); return }
            f.tick += 1
            f.lastUse[n] = f.tick
            f.buffers[n, default: []].append(p)
            f.bytes += n * 4
            f.evict(keeping: n, into: &out)
        }
        for q in out { q.deallocate() }
    }
}

/// Keeps at most `bytes` of freed large tensor buffers for reuse (see `StorageCache`): a run that bounds its
/// micro-batches sets 0, so idle buffers do not add to its peak memory.
public func setStorageCacheLimit(_ bytes: Int) { StorageCache.setLimit(bytes) }
