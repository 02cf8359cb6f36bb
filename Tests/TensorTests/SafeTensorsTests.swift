import XCTest
@testable import Tensor

final class SafeTensorsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    /// Writes a raw file: 8-byte little-endian header length, header bytes, data bytes.
    func rawFile(_ name: String, header: String, data: [UInt8] = [], headerLength: UInt64? = nil) throws -> URL {
        let h = Array(header.utf8)
        var bytes = withUnsafeBytes(of: (headerLength ?? UInt64(h.count)).littleEndian) { Array($0) }
        bytes += h + data
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func assertReadFails(_ url: URL, _ needle: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.read(url), file: file, line: line) { e in
            XCTAssertTrue(e is TensorError, file: file, line: line)
            XCTAssertTrue("\(e)".contains(needle), "message '\(e)' lacks '\(needle)'", file: file, line: line)
        }
    }

    func testRoundTripIsBitExact() throws {
        let a: [Float] = [1, -0, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
                          Float(bitPattern: 0x7FC0_1234), 0.1]
        let b: [Float] = (0..<15).map { sin(Float($0)) * 1e-3 }
        let scalar: [Float] = [3.5]
        let url = dir.appendingPathComponent("rt.safetensors")
        let meta = ["step": "12", "note": "quote \" backslash \\ newline \n tab \t ctrl \u{1} ünïcode"]
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try scalar.withUnsafeBufferPointer { ps in
                    let empty = UnsafeBufferPointer<Float>(start: nil, count: 0)
                    try SafeTensors.write([("a", [2, 4], pa), ("layers.0.b \"odd\" name", [3, 5], pb), ("s", [], ps),
                                           ("empty", [0, 3], empty)], metadata: meta, to: url)
                }
            }
        }
        let (entries, metadata) = try SafeTensors.read(url)
        XCTAssertEqual(metadata, meta)
        XCTAssertEqual(Set(entries.keys), ["a", "layers.0.b \"odd\" name", "s", "empty"])
        XCTAssertEqual(entries["a"]!.shape, [2, 4])
        XCTAssertEqual(entries["a"]!.values.map(\.bitPattern), a.map(\.bitPattern))
        XCTAssertEqual(entries["layers.0.b \"odd\" name"]!.values.map(\.bitPattern), b.map(\.bitPattern))
        XCTAssertEqual(entries["s"]!.shape, [])
        XCTAssertEqual(entries["s"]!.values, [3.5])
        XCTAssertEqual(entries["empty"]!.shape, [0, 3])
        XCTAssertEqual(entries["empty"]!.values, [])

        // the header is space-padded so the data starts 8-byte aligned; no temp files are left behind
        let raw = try Data(contentsOf: url)
        let n = raw.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        XCTAssertEqual(n % 8, 0)
        XCTAssertEqual(raw.count, 8 + Int(n) + 4 * (8 + 15 + 1))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["rt.safetensors"])
    }

    func testWriteReplacesAnExistingFileAndArenaRoundTrip() throws {
        let arena = try ParameterArena(layout: [("emb", [4, 3]), ("norm", [3])])
        var rng = RNG(seed: 1)
        try arena.fillNormal("emb", std: 1, rng: &rng)
        try arena.fill("norm", value: 1)
        let url = dir.appendingPathComponent("ckpt.safetensors")
        try Data("old contents".utf8).write(to: url)
        try SafeTensors.write(arena.entries.map { e in
            (e.name, e.shape, UnsafeBufferPointer(start: arena.data + e.offset, count: e.count))
        }, to: url)
        let (entries, metadata) = try SafeTensors.read(url)
        XCTAssertEqual(metadata, [:])
        XCTAssertEqual(entries["emb"]!.values, try arena.tensor("emb").array)
        XCTAssertEqual(entries["norm"]!.values, [1, 1, 1])
    }

    func testWriteRejectsBadInput() throws {
        let v: [Float] = [1, 2, 3]
        let url = dir.appendingPathComponent("bad.safetensors")
        try v.withUnsafeBufferPointer { p in
            XCTAssertThrowsError(try SafeTensors.write([("x", [2, 2], p)], to: url)) { e in
                XCTAssertTrue("\(e)".contains("shape [2, 2] but 3 values"), "\(e)")
            }
            XCTAssertThrowsError(try SafeTensors.write([("x", [3], p), ("x", [3], p)], to: url)) { e in
                XCTAssertTrue("\(e)".contains("duplicate"), "\(e)")
            }
            XCTAssertThrowsError(try SafeTensors.write([("__metadata__", [3], p)], to: url))
            XCTAssertThrowsError(try SafeTensors.write([("x", [3], p)], to: dir.appendingPathComponent("no/such/dir/f")))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    /// tiny.safetensors was written by the reference Python `safetensors` package (Fixtures/make_tiny.py).
    func testReadsFixtureWrittenByAnotherTool() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "tiny", withExtension: "safetensors", subdirectory: "Fixtures"))
        let (entries, metadata) = try SafeTensors.read(url)
        XCTAssertEqual(metadata, ["format": "np", "producer": "make_tiny.py"])
        XCTAssertEqual(Set(entries.keys), ["f32.weight", "bf16.bias", "f16.scale", "scalar"])

        let f32 = try XCTUnwrap(entries["f32.weight"])
        XCTAssertEqual(f32.shape, [2, 3])
        // numpy rounds the Python doubles to float32, exactly as Float(Double) does
        XCTAssertEqual(f32.values, ([0.1, -2.5, 3e-7, 1e30, -0.0, 123456.789] as [Double]).map { Float($0) })
        XCTAssertEqual(f32.values[4].sign, .minus)

        let bf16 = try XCTUnwrap(entries["bf16.bias"])
        XCTAssertEqual(bf16.shape, [5])
        XCTAssertEqual(bf16.values, [1, -0.5, 3.140625, 196_608, 0x1p-20])

        let f16 = try XCTUnwrap(entries["f16.scale"])
        XCTAssertEqual(f16.shape, [2, 4])
        XCTAssertEqual(f16.values, [1, -2.5, 65504, 0x1p-14, 0x1p-24, -3 * 0x1p-24, .infinity, 0.333251953125])

        XCTAssertEqual(entries["scalar"]?.shape, [])
        XCTAssertEqual(entries["scalar"]?.values, [42])
    }

    func testHalfConversionEdgeCases() {
        XCTAssertEqual(SafeTensors.halfToFloat(0x0000), 0)
        XCTAssertEqual(SafeTensors.halfToFloat(0x8000).sign, .minus)
        XCTAssertEqual(SafeTensors.halfToFloat(0x3C00), 1)
        XCTAssertEqual(SafeTensors.halfToFloat(0x03FF), 1023 * 0x1p-24)     // largest subnormal
        XCTAssertEqual(SafeTensors.halfToFloat(0x0400), 0x1p-14)            // smallest normal
        XCTAssertEqual(SafeTensors.halfToFloat(0xFC00), -.infinity)
        XCTAssertTrue(SafeTensors.halfToFloat(0x7E00).isNaN)
    }

    func testMissingAndTruncatedFiles() throws {
        assertReadFails(dir.appendingPathComponent("absent.safetensors"), "no such file")
        let short = dir.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: short)
        assertReadFails(short, "truncated: 3 bytes")
        // header claims 1000 bytes, the file has 10 after the length
        assertReadFails(try rawFile("beyond.safetensors", header: "{\"a\":1}   ", headerLength: 1000),
                        "header length 1000 goes beyond the file")
        // a valid file cut short inside its data section
        let v: [Float] = [1, 2, 3, 4]
        let full = dir.appendingPathComponent("full.safetensors")
        try v.withUnsafeBufferPointer { try SafeTensors.write([("x", [4], $0)], to: full) }
        let bytes = try Data(contentsOf: full)
        let cut = dir.appendingPathComponent("cut.safetensors")
        try bytes.prefix(bytes.count - 5).write(to: cut)
        assertReadFails(cut, "file truncated?")
    }

    func testCorruptedHeaders() throws {
        assertReadFails(try rawFile("json.safetensors", header: "{\"x\": {\"dtype\": \"F32\", "), "invalid JSON header")
        assertReadFails(try rawFile("array.safetensors", header: "[1, 2]"), "not an object")
        assertReadFails(try rawFile("dtype.safetensors", header: #"{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#,
                                    data: [UInt8](repeating: 0, count: 8)),
                        "unsupported dtype 'I64'")
        assertReadFails(try rawFile("noshape.safetensors", header: #"{"x":{"dtype":"F32","data_offsets":[0,4]}}"#,
                                    data: [0, 0, 0, 0]),
                        "no valid shape")
        assertReadFails(try rawFile("frac.safetensors", header: #"{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#,
                                    data: [0, 0, 0, 0]),
                        "no valid shape")
        assertReadFails(try rawFile("meta.safetensors", header: #"{"__metadata__":{"k":3}}"#), "__metadata__ value for 'k'")
    }

    /// Found by Fuzz/ (fuzz-safetensors: what read returns, write writes back): a tensor named "" was read,
    /// although write refuses that name, so such a checkpoint could be loaded but never saved again.
    func testEmptyTensorNameIsRejected() throws {
        assertReadFails(try rawFile("unnamed.safetensors", header: #"{"":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}"#,
                                    data: [UInt8](repeating: 0, count: 6)),
                        "a tensor has an empty name")
    }

    func testBadDataOffsets() throws {
        let data = [UInt8](repeating: 0, count: 16)
        assertReadFails(try rawFile("range.safetensors", header: #"{"x":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}"#,
                                    data: data),
                        "outside the data section of 16 bytes")
        assertReadFails(try rawFile("reversed.safetensors", header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#,
                                    data: data),
                        "outside the data section")
        assertReadFails(try rawFile("size.safetensors", header: #"{"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#,
                                    data: data),
                        "hold 12 bytes, but F32 shape [2, 2] needs 16")
        assertReadFails(try rawFile("bf.safetensors", header: #"{"x":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}}"#,
                                    data: data),
                        "hold 16 bytes, but BF16 shape [4] needs 8")
        assertReadFails(try rawFile("overlap.safetensors",
                                    header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                                    data: data),
                        "overlapping data_offsets")
        assertReadFails(try rawFile("neg.safetensors", header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#,
                                    data: data),
                        "outside the data section")
    }
}
