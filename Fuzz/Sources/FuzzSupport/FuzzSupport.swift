import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A broken invariant: print what broke and abort, so libFuzzer reports a crash and saves the input.
public func require(_ ok: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if ok { return }
    FileHandle.standardError.write(Data("invariant broken (\(file):\(line)): \(message())\n".utf8))
    abort()
}

/// FUZZ_VERBOSE=1: print what the entry point returned or threw (to inspect one input: fuzz-X FILE).
public let verbose = ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] == "1"

public func note(_ message: @autoclosure () -> String) {
    if verbose { FileHandle.standardError.write(Data("\(message())\n".utf8)) }
}

/// The fuzz input as bytes.
public func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Splits an input at its first `count - 1` NUL bytes into `count` parts (missing parts are empty), so one
/// input can carry several arguments.
public func splitAtNUL(_ bytes: [UInt8], into count: Int) -> [[UInt8]] {
    var parts: [[UInt8]] = []
    var rest = bytes[...]
    while parts.count < count - 1, let z = rest.firstIndex(of: 0) {
        parts.append(Array(rest[..<z]))
        rest = rest[(z + 1)...]
    }
    parts.append(Array(rest))
    while parts.count < count { parts.append([]) }
    return parts
}

/// Byte-wise substring search (String.contains compares Characters, and Foundation's composed sequences, which
/// can fuse across the edge of a match).
public func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool { range(of: needle, in: haystack) != nil }

public func range(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
    if needle.isEmpty { return 0..<0 }
    guard haystack.count >= needle.count else { return nil }
    for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
        return i..<(i + needle.count)
    }
    return nil
}

/// One file per fuzzing process for the entry points that read a path (in memory on /dev/shm when it exists).
public final class ScratchFile {
    public let url: URL
    public init(_ name: String) {
        let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm")
            : FileManager.default.temporaryDirectory
        url = dir.appendingPathComponent("swifttir-fuzz-\(getpid())-\(name)")
    }
    /// Replaces the file's contents with `bytes` and returns its URL.
    public func write(_ bytes: [UInt8]) -> URL {
        do { try Data(bytes).write(to: url) } catch { require(false, "cannot write \(url.path): \(error)") }
        return url
    }
    deinit { unlink(url.path) }
}

/// Runs the parser under test: its result, or nil after checking that it failed with an `E` whose message
/// starts with `prefix` (so the error names its input). Any other error breaks the invariant.
public func parsedOrRejected<T, E: Error>(_ expected: E.Type, prefix: String, _ parse: () throws -> T) -> T? {
    do {
        return try parse()
    } catch let e as E {
        note("error: \(e)")
        require("\(e)".hasPrefix(prefix), "error does not name its input (\(prefix)): \(e)")
        return nil
    } catch {
        require(false, "threw \(type(of: error)), not a \(E.self): \(error)")
        return nil
    }
}
