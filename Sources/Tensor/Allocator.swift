import Foundation

/// Process-wide allocator tuning. Every op allocates its output; glibc serves big blocks with fresh mmap
/// pages (or trims the heap when they are freed), so each new multi-MB tensor page-faults on first touch.
/// Measured (release, ropeQK forward+backward on [4096,768], 12 MB buffers): 20-30 ms with the defaults,
/// 3.5-4 ms after `keepFreedMemory()`. Call once at process start (the tir executable, benchmarks).
public enum Allocator {
    /// Keeps freed memory in the heap for reuse: no mmap for large blocks, no trimming. No-op off Linux.
    public static func keepFreedMemory() {
        #if os(Linux)
        _ = c_mallopt(-3, 1 << 30)   // M_MMAP_THRESHOLD: serve blocks up to 1 GiB from the heap
        _ = c_mallopt(-1, 1 << 30)   // M_TRIM_THRESHOLD: do not return freed heap tops to the OS
        #endif
    }
}

#if os(Linux)
@_silgen_name("mallopt") private func c_mallopt(_ param: Int32, _ value: Int32) -> Int32
#endif
