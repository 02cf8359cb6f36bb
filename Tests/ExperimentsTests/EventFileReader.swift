import Foundation

/// A TensorBoard event-file reader for the tests, written apart from `TensorBoardWriter` so that it checks
/// the format rather than repeating the writer: TFRecord framing with both masked CRC-32C checked (a
/// bit-wise CRC, not the writer's table), then the Event fields from the protobuf wire format.
struct ReadEvent {
    var wallTime = 0.0
    var step: Int64 = 0
    var fileVersion: String?
    var sessionStatus: UInt64?
    var scalars: [String: Float] = [:]
}

struct EventFileError: Error, CustomStringConvertible {
    let description: String
}

enum EventFileReader {
    static func crc32c(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c >> 1) ^ (0x82F6_3B78 & (0 &- (c & 1))) }
        }
        return ~c
    }

    static func masked(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        let c = crc32c(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }

    static func uint(_ b: ArraySlice<UInt8>) -> UInt64 {
        b.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Every record's payload; throws on a bad CRC or a truncated record.
    static func records(_ data: [UInt8]) throws -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = [], i = 0
        while i < data.count {
            guard i + 12 <= data.count else { throw EventFileError(description: "truncated header at \(i)") }
            let lengthBytes = data[i..<(i + 8)]
            guard UInt32(uint(data[(i + 8)..<(i + 12)])) == masked(lengthBytes) else {
                throw EventFileError(description: "length CRC mismatch at \(i)")
            }
            let n = Int(uint(lengthBytes)), start = i + 12
            guard start + n + 4 <= data.count else { throw EventFileError(description: "truncated record at \(i)") }
            let payload = data[start..<(start + n)]
            guard UInt32(uint(data[(start + n)..<(start + n + 4)])) == masked(payload) else {
                throw EventFileError(description: "data CRC mismatch at \(i)")
            }
            out.append(payload)
            i = start + n + 4
        }
        return out
    }

    /// (field, wire type, varint or fixed value, length-delimited bytes) of one protobuf message.
    static func fields(_ m: ArraySlice<UInt8>) throws -> [(field: Int, value: UInt64, bytes: ArraySlice<UInt8>)] {
        var out: [(field: Int, value: UInt64, bytes: ArraySlice<UInt8>)] = []
        var i = m.startIndex
        func varint() throws -> UInt64 {
            var x: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < m.endIndex, shift < 64 else { throw EventFileError(description: "bad varint") }
                let b = m[i]; i += 1
                x |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return x }
                shift += 7
            }
        }
        while i < m.endIndex {
            let key = try varint()
            let field = Int(key >> 3)
            switch key & 7 {
            case 0: out.append((field, try varint(), []))
            case 1, 5:
                let n = key & 7 == 1 ? 8 : 4
                guard i + n <= m.endIndex else { throw EventFileError(description: "truncated fixed field") }
                out.append((field, uint(m[i..<(i + n)]), [])); i += n
            case 2:
                let n = Int(try varint())
                guard i + n <= m.endIndex else { throw EventFileError(description: "truncated bytes field") }
                out.append((field, 0, m[i..<(i + n)])); i += n
            default: throw EventFileError(description: "wire type \(key & 7)")
            }
        }
        return out
    }

    static func events(_ data: [UInt8]) throws -> [ReadEvent] {
        try records(data).map { payload in
            var e = ReadEvent()
            for f in try fields(payload) {
                switch f.field {
                case 1: e.wallTime = Double(bitPattern: f.value)
                case 2: e.step = Int64(bitPattern: f.value)
                case 3: e.fileVersion = String(decoding: f.bytes, as: UTF8.self)
                case 5:
                    for v in try fields(f.bytes) where v.field == 1 {
                        var tag = "", value: Float?
                        for x in try fields(v.bytes) {
                            if x.field == 1 { tag = String(decoding: x.bytes, as: UTF8.self) }
                            if x.field == 2 { value = Float(bitPattern: UInt32(x.value)) }
                        }
                        if let value { e.scalars[tag] = value }
                    }
                case 7: e.sessionStatus = try fields(f.bytes).first { $0.field == 1 }?.value ?? 0
                default: break
                }
            }
            return e
        }
    }

    /// The events of every event file in `dir`, files in name order (TensorBoard's order).
    static func events(dir: URL) throws -> [ReadEvent] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("tfevents") }.sorted()
        return try names.flatMap { try events(Array(Data(contentsOf: dir.appendingPathComponent($0)))) }
    }
}
