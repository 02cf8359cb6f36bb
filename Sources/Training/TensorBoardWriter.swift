import Foundation
import Model

/// Scalars in TensorBoard's event-file format, written natively: `tensorboard --logdir runs/` reads them.
///
/// A file `events.out.tfevents.<unix time>.<host>` is a sequence of TFRecords (little-endian uint64 length,
/// masked CRC-32C of those 8 bytes, the data, masked CRC-32C of the data), each an `Event` protocol buffer
/// encoded here by hand (swift-protobuf is not needed for four fields). The first event names the format
/// (`file_version: "brain.Event:2"`); the second is a SessionLog START at `firstStep`, after which
/// TensorBoard drops what an earlier, interrupted session wrote at that step or later: a resumed run shows
/// each step once. Each record goes out in one write; the file is not fsync'ed (metrics.jsonl is the record
/// of a run; a torn last record of a killed run is skipped by TensorBoard).
public final class TensorBoardWriter {
    public let url: URL
    private let handle: FileHandle

    /// Creates a new event file in `dir` (and `dir`); `firstStep` is the first step this session will write.
    public init(dir: URL, firstStep: Int, now: Date = Date()) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        let name = "events.out.tfevents.\(Int(now.timeIntervalSince1970)).\(ProcessInfo.processInfo.hostName)"
        var candidate = dir.appendingPathComponent(name)
        var n = 1
        while fm.fileExists(atPath: candidate.path) {   // a second session in the same second
            candidate = dir.appendingPathComponent(name + ".\(n)")
            n += 1
        }
        guard fm.createFile(atPath: candidate.path, contents: nil) else {
            throw ConfigError("TensorBoardWriter: cannot create \(candidate.path)")
        }
        url = candidate
        handle = try FileHandle(forWritingTo: candidate)
        let t = now.timeIntervalSince1970
        try append(Self.event(wallTime: t, step: 0, field: 3, Array("brain.Event:2".utf8)))
        try append(Self.event(wallTime: t, step: firstStep, field: 7, Self.sessionStart))
    }

    deinit { try? handle.close() }

    /// One event with a scalar per key (tags sorted); non-finite values are written as they are.
    public func write(step: Int, scalars: [String: Double], wallTime: Date = Date()) throws {
        var summary: [UInt8] = []
        for (tag, v) in scalars.sorted(by: { $0.key < $1.key }) {
            var value = Proto.bytes(field: 1, Array(tag.utf8))
            value += Proto.float(field: 2, Float(v))
            summary += Proto.bytes(field: 1, value)
        }
        try append(Self.event(wallTime: wallTime.timeIntervalSince1970, step: step, field: 5, summary))
    }

    private func append(_ event: [UInt8]) throws {
        try handle.write(contentsOf: Data(Self.record(event)))
    }

    /// An Event: wall_time (1), step (2) and one length-delimited member of its `what` oneof.
    static func event(wallTime: Double, step: Int, field: Int, _ payload: [UInt8]) -> [UInt8] {
        Proto.double(field: 1, wallTime) + Proto.varint(field: 2, UInt64(bitPattern: Int64(step)))
            + Proto.bytes(field: field, payload)
    }

    /// SessionLog { status: START }.
    static let sessionStart: [UInt8] = Proto.varint(field: 1, 1)

    /// TFRecord framing of one record.
    static func record(_ data: [UInt8]) -> [UInt8] {
        let length = Proto.littleEndian(UInt64(data.count))
        return length + Proto.littleEndian(CRC32C.masked(length)) + data + Proto.littleEndian(CRC32C.masked(data))
    }
}

/// The protocol-buffer wire format, for the few field kinds an Event uses.
enum Proto {
    static func key(_ field: Int, _ wireType: UInt64) -> [UInt8] { rawVarint(UInt64(field) << 3 | wireType) }

    static func rawVarint(_ x: UInt64) -> [UInt8] {
        var x = x, out: [UInt8] = []
        while x >= 0x80 { out.append(UInt8(x & 0x7F) | 0x80); x >>= 7 }
        out.append(UInt8(x))
        return out
    }

    static func varint(field: Int, _ x: UInt64) -> [UInt8] { key(field, 0) + rawVarint(x) }
    static func double(field: Int, _ x: Double) -> [UInt8] { key(field, 1) + littleEndian(x.bitPattern) }
    static func float(field: Int, _ x: Float) -> [UInt8] { key(field, 5) + littleEndian(x.bitPattern) }
    static func bytes(field: Int, _ b: [UInt8]) -> [UInt8] { key(field, 2) + rawVarint(UInt64(b.count)) + b }

    static func littleEndian<T: FixedWidthInteger>(_ x: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: x >> ($0 * 8)) }
    }
}
