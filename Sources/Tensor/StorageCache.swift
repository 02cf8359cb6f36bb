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
    /// Cached (free) buffers beyond this many bytes go back to malloc, so a phase with other shapes (say
    /// evaluation after training) does not keep the old ones alive forever. A quarter of the machine's memory
    /// (at least 1 GiB): a real model's step (SmolLM2, 8 x 256 tokens) frees about 5 GB of activations and
    /// gradients, which a smaller cache sent back to the kernel to be page-faulted in again the next step.
    static let maxCachedBytes = max(1 << 30, Int(ProcessInfo.processInfo.physicalMemory / 4))

    private struct Free {
        var buffers: [Int: [UnsafeMutablePointer<Float>]] = [:]
        var bytes = 0
    }
    private static let free = Mutex(Free())

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
        if n * 4 >= minBytes, free.withLock({ f -> Bool in
            guard f.bytes + n * 4 <= maxCachedBytes else { return false }
            f.buffers[n, default: []].append(p)
            f.bytes += n * 4
            return true
        }) {
            return
        }
        p.deallocate()
    }
}
