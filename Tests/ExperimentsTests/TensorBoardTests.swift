import Foundation
import XCTest
import Training

final class TensorBoardTests: XCTestCase {
    /// RFC 3720 (iSCSI) CRC-32C vectors, and the check value of "123456789".
    func testCRC32CVectors() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }), 0x113F_DB5C)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        // The test reader's bit-wise CRC agrees with the table on arbitrary bytes.
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }
        XCTAssertEqual(CRC32C.checksum(bytes), EventFileReader.crc32c(bytes[...]))
        // Masked: rotate right 15, add 0xa282ead8 (TensorFlow's crc32c::Mask).
        let c = CRC32C.checksum(bytes)
        XCTAssertEqual(CRC32C.masked(bytes), ((c >> 15) | (c << 17)) &+ 0xA282_EAD8)
    }

    func testEventsReadBackWithTheirSteps() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let t0 = Date(timeIntervalSince1970: 1_700_000_000.25)
        do {
            let w = try TensorBoardWriter(dir: dir, firstStep: 1, now: t0)
            XCTAssertTrue(w.url.lastPathComponent.hasPrefix("events.out.tfevents.1700000000."))
            try w.write(step: 1, scalars: ["actor/grad_norm": 0.5, "tir/low_prob/1e-3": 1e-4, "x": .nan], wallTime: t0)
            try w.write(step: 300, scalars: ["actor/grad_norm": -2.25e7], wallTime: t0.addingTimeInterval(1))
            // A resumed session in the same second gets its own file, starting at step 2.
            let w2 = try TensorBoardWriter(dir: dir, firstStep: 2, now: t0)
            XCTAssertNotEqual(w2.url, w.url)
        }
        let events = try EventFileReader.events(dir: dir)
        XCTAssertEqual(events.count, 6)
        XCTAssertEqual(events[0].fileVersion, "brain.Event:2")
        XCTAssertEqual(events[0].wallTime, 1_700_000_000.25)
        XCTAssertEqual(events[1].sessionStatus, 1)      // SessionLog.START
        XCTAssertEqual(events[1].step, 1)
        XCTAssertEqual(events[2].step, 1)
        XCTAssertEqual(events[2].scalars["actor/grad_norm"], 0.5)
        XCTAssertEqual(events[2].scalars["tir/low_prob/1e-3"], Float(1e-4))
        XCTAssertTrue(events[2].scalars["x"]!.isNaN)
        XCTAssertEqual(events[3].step, 300)
        XCTAssertEqual(events[3].scalars, ["actor/grad_norm": -2.25e7])
        XCTAssertEqual(events[4].fileVersion, "brain.Event:2")
        XCTAssertEqual(events[5].sessionStatus, 1)
        XCTAssertEqual(events[5].step, 2)
    }

    func testReaderRejectsAFlippedBit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-flip-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url: URL
        do {
            let w = try TensorBoardWriter(dir: dir, firstStep: 1)
            try w.write(step: 1, scalars: ["a": 1])
            url = w.url
        }
        let good = Array(try Data(contentsOf: url))
        XCTAssertEqual(try EventFileReader.events(good).count, 3)
        for i in [3, 9, 14, good.count - 9, good.count - 1] {    // length, length CRC, data, data CRC
            var bad = good
            bad[i] ^= 0x10
            XCTAssertThrowsError(try EventFileReader.events(bad), "flipped byte \(i) went unnoticed")
        }
    }
}
