import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file atomically: the bytes go to a temporary file in the same directory, which is fsynced and then
/// renamed over the target (and the directory fsynced), so a crash leaves the old file or the new one, never
/// half of one. The writers of safetensors and GGUF files both go through it.
public struct AtomicFile {
    private let fd: Int32
    private let tmp: URL
    private let label: String

    /// Calls `body` with a writer for the new content of `url`; errors name `label` (e.g. "SafeTensors.write").
    public static func write(to url: URL, label: String, _ body: (AtomicFile) throws -> Void) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TensorError("\(label): cannot create \(tmp.path): \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            if !ok { close(fd); unlink(tmp.path) }
        }
        try body(AtomicFile(fd: fd, tmp: tmp, label: label))
        guard fsync(fd) == 0 else { throw TensorError("\(label): fsync \(tmp.path): \(String(cString: strerror(errno)))") }
        guard close(fd) == 0 else {
            unlink(tmp.path); ok = true
            throw TensorError("\(label): close \(tmp.path): \(String(cString: strerror(errno)))")
        }
        ok = true
        guard rename(tmp.path, url.path) == 0 else {
            let msg = String(cString: strerror(errno))
            unlink(tmp.path)
            throw TensorError("\(label): rename to \(url.path): \(msg)")
        }
        // make the rename itself durable
        let dfd = open(dir.path, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// Appends `bytes` (all of them, retrying short writes and EINTR).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            #if canImport(Glibc)
            let r = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            #else
            let r = Darwin.write(fd, bytes.baseAddress! + done, bytes.count - done)
            #endif
            if r < 0 {
                if errno == EINTR { continue }
                throw TensorError("\(label): writing \(tmp.path): \(String(cString: strerror(errno)))")
            }
            done += r
        }
    }
}
