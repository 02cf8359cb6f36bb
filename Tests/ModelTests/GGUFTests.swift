import XCTest
import Tensor
@testable import Model

/// The fixtures (Fixtures/gguf/, written by reference/make_gguf_fixtures.py with gguf-py 0.19) are found next to
/// this file, so the tests need neither Python nor a resource bundle.
private let ggufFixtures = ModelFixtures.url("gguf")

private func readFloats(_ url: URL) throws -> [Float] {
    let data = try Data(contentsOf: url)
    return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

/// Little-endian GGUF bytes, built field by field for the malformed-file tests.
private struct GGUFBytes {
    var bytes: [UInt8] = []
    mutating func u8(_ x: UInt8) { bytes.append(x) }
    mutating func u32(_ x: UInt32) { withUnsafeBytes(of: x.littleEndian) { bytes += $0 } }
    mutating func u64(_ x: UInt64) { withUnsafeBytes(of: x.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += s.utf8 }
    mutating func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        bytes += Array("GGUF".utf8); u32(version); u64(tensors); u64(kvs)
    }
    /// A key with a u32 value.
    mutating func kvU32(_ key: String, _ v: UInt32) { string(key); u32(4); u32(v) }
    mutating func tensorInfo(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
        string(name); u32(UInt32(dims.count)); for d in dims { u64(d) }; u32(type); u64(offset)
    }
    mutating func pad(to alignment: Int = 32) { while bytes.count % alignment != 0 { bytes.append(0) } }
    mutating func data(_ n: Int) { bytes += [UInt8](repeating: 0x11, count: n) }
}

final class GGUFTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tir-gguf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    private func write(_ bytes: [UInt8], _ name: String = "bad.gguf") throws -> URL {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// Opening `bytes` must throw a TensorError naming the file and containing `needle`.
    private func assertRejects(_ bytes: [UInt8], _ needle: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = try write(bytes)
        XCTAssertThrowsError(try GGUFFile(url: url), file: file, line: line) { error in
            guard let e = error as? TensorError else { return XCTFail("not a TensorError: \(error)", file: file, line: line) }
            XCTAssertTrue(e.message.hasPrefix("GGUF \(url.path): "), "does not name the file: \(e.message)", file: file, line: line)
            XCTAssertTrue(e.message.contains(needle), "'\(e.message)' does not contain '\(needle)'", file: file, line: line)
        }
    }

    // MARK: Dequantization against gguf-py

    /// Every supported type, 2 rows of 512 (two K-quant blocks per row), plus 3-D tensors: bit for bit the values
    /// of gguf-py's `quants.dequantize` (the same formulas as llama.cpp's `dequantize_row_*`).
    func testEveryTypeMatchesGGUFPyBitForBit() throws {
        let f = try GGUFFile(url: ggufFixtures.appendingPathComponent("types.gguf"))
        let expected = try readFloats(ggufFixtures.appendingPathComponent("types.expected.f32"))
        var at = 0
        var types: [GGMLType] = []
        for t in f.tensors where t.type.canDequantize {
            let got = try f.dequantize(t)
            XCTAssertEqual(got.count, t.elementCount)
            let want = Array(expected[at ..< at + got.count])
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(t.name) (\(t.type.name))")
            at += got.count
            types.append(t.type)
        }
        XCTAssertEqual(at, expected.count)
        XCTAssertEqual(Set(types), Set(GGMLType.dequantizable), "the fixture covers every supported type")
    }

    func testTensorInfos() throws {
        let f = try GGUFFile(url: ggufFixtures.appendingPathComponent("types.gguf"))
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.alignment, 32)
        XCTAssertEqual(f.tensors.map(\.name), ["f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q5_k",
                                               "q6_k", "cube", "cube.q8_0", "unsupported.q2_k"])
        let q4k = try XCTUnwrap(f.tensor(named: "q4_k"))
        XCTAssertEqual(q4k.dims, [512, 2])
        XCTAssertEqual(q4k.shape, [2, 512])
        XCTAssertEqual(q4k.type, .q4_K)
        XCTAssertEqual(q4k.elementCount, 1024)
        XCTAssertEqual(q4k.byteCount, 4 * 144)
        XCTAssertEqual(q4k.rowCount, 2)
        XCTAssertEqual(q4k.rowLength, 512)
        let cube = try XCTUnwrap(f.tensor(named: "cube.q8_0"))
        XCTAssertEqual(cube.dims, [64, 3, 2])
        XCTAssertEqual(cube.shape, [2, 3, 64])
        XCTAssertEqual(cube.rowCount, 6)
        XCTAssertEqual(cube.byteCount, 12 * 34)
        XCTAssertNil(f.tensor(named: "missing"))
        for t in f.tensors {
            XCTAssertEqual((t.offset - f.dataOffset) % 32, 0, t.name)
            XCTAssertLessThanOrEqual(t.offset + t.byteCount, f.fileSize)
            XCTAssertEqual(t.byteCount, t.elementCount / t.type.blockSize * t.type.bytesPerBlock)
        }
        XCTAssertEqual(f.dataOffset % 32, 0)
    }

    func testRowRanges() throws {
        let f = try GGUFFile(url: ggufFixtures.appendingPathComponent("types.gguf"))
        for name in ["q4_k", "q6_k", "cube.q8_0", "f16"] {
            let t = try XCTUnwrap(f.tensor(named: name))
            let all = try f.dequantize(t)
            for rows in [0..<1, 1..<t.rowCount, 0..<t.rowCount, 1..<1] {
                var part = [Float](repeating: .nan, count: rows.count * t.rowLength + 1)
                try part.withUnsafeMutableBufferPointer { try f.dequantize(t, rows: rows, into: $0.baseAddress!) }
                XCTAssertEqual(part.dropLast().map(\.bitPattern),
                               all[rows.lowerBound * t.rowLength ..< rows.upperBound * t.rowLength].map(\.bitPattern), "\(name) \(rows)")
                XCTAssertTrue(part.last!.isNaN, "wrote past the rows")
            }
            var one: Float = 0
            XCTAssertThrowsError(try f.dequantize(t, rows: t.rowCount - 1 ..< t.rowCount + 1, into: &one))
        }
    }

    func testUnsupportedTypeIsNamedWhenDequantized() throws {
        let url = ggufFixtures.appendingPathComponent("types.gguf")
        let f = try GGUFFile(url: url)
        let t = try XCTUnwrap(f.tensor(named: "unsupported.q2_k"))
        XCTAssertEqual(t.type, .q2_K)
        XCTAssertEqual(t.byteCount, 84)
        XCTAssertThrowsError(try f.dequantize(t)) { error in
            XCTAssertEqual((error as? TensorError)?.message,
                           "GGUF \(url.path): tensor unsupported.q2_k has type Q2_K (id 10), which SwiftTIR cannot dequantize; "
                           + "supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K")
        }
        try f.withRawBytes(of: t) { XCTAssertEqual($0.count, 84) }
    }

    /// general.alignment = 64: the data section and every tensor start at multiples of 64.
    func testAlignment64() throws {
        let f = try GGUFFile(url: ggufFixtures.appendingPathComponent("aligned64.gguf"))
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.metadata["general.alignment"], .u32(64))
        XCTAssertEqual(f.dataOffset % 64, 0)
        XCTAssertEqual(f.tensors.map(\.name), ["a.q8_0", "b.f32", "c.f32", "d.f16"])
        XCTAssertEqual(f.tensors.map { $0.offset - f.dataOffset }, [0, 64, 128, 256])
        let expected = try readFloats(ggufFixtures.appendingPathComponent("aligned64.expected.f32"))
        XCTAssertEqual(try f.tensors.flatMap { try f.dequantize($0) }.map(\.bitPattern), expected.map(\.bitPattern))
    }

    // MARK: Metadata

    func testMetadataOfEveryValueType() throws {
        let url = ggufFixtures.appendingPathComponent("types.gguf")
        let f = try GGUFFile(url: url)
        let m = f.metadata
        XCTAssertEqual(f.keys.first, "general.architecture")
        XCTAssertEqual(f.keys.count, m.count)
        XCTAssertEqual(m["test.u8"], .u8(200))
        XCTAssertEqual(m["test.i8"], .i8(-100))
        XCTAssertEqual(m["test.u16"], .u16(60000))
        XCTAssertEqual(m["test.i16"], .i16(-30000))
        XCTAssertEqual(m["test.u32"], .u32(4_000_000_000))
        XCTAssertEqual(m["test.i32"], .i32(-2_000_000_000))
        XCTAssertEqual(m["test.f32"], .f32(0.1))
        XCTAssertEqual(m["test.bool"], .bool(true))
        XCTAssertEqual(m["test.string"], .string("héllo wörld 🚀"))
        XCTAssertEqual(m["test.u64"], .uint(18_000_000_000_000_000_000))
        XCTAssertEqual(m["test.i64"], .int(-9_000_000_000_000_000_000))
        XCTAssertEqual(m["test.f64"], .float(2.718281828459045))
        XCTAssertEqual(m["test.u8s"], .array([.u8(0), .u8(255), .u8(7)]))
        XCTAssertEqual(m["test.u64s"], .array([.uint(.max), .uint(0)]))
        XCTAssertEqual(m["test.bools"], .array([.bool(true), .bool(false)]))
        XCTAssertEqual(m["test.nested"], .array([.array([.string("x"), .string("y")]), .array([.string("z")])]))

        // Typed accessors take any width.
        XCTAssertEqual(try f.string("general.architecture"), "test")
        XCTAssertEqual(try f.int("llama.context_length"), 8192)
        XCTAssertEqual(try f.int("test.u8"), 200)
        XCTAssertEqual(try f.int("test.i16"), -30000)
        XCTAssertEqual(try f.int("test.i64"), -9_000_000_000_000_000_000)
        XCTAssertEqual(try f.float("llama.rope.freq_base"), 100000)
        XCTAssertEqual(try f.float("test.f32"), Double(Float(0.1)))
        XCTAssertEqual(try f.float("test.f64"), 2.718281828459045)
        XCTAssertEqual(try f.bool("test.bool"), true)
        XCTAssertEqual(try f.strings("test.strings"), ["a", "", "Ġthe", "<|im_end|>"])
        XCTAssertEqual(try f.ints("test.i32s"), [1, 3, -4, 5])
        XCTAssertEqual(try f.ints("test.u8s"), [0, 255, 7])
        XCTAssertEqual(try f.floats("test.f32s"), [0.5, -1.25, 3])
        XCTAssertNil(try f.optionalString("absent.key"))
        XCTAssertNil(try f.optionalInt("absent.key"))
        XCTAssertNil(try f.optionalStrings("absent.key"))
        XCTAssertEqual(try f.optionalInt("test.u32"), 4_000_000_000)

        func assertThrows<T>(_ body: @autoclosure () throws -> T, _ needle: String, line: UInt = #line) {
            XCTAssertThrowsError(try body(), line: line) { error in
                let message = (error as? TensorError)?.message ?? "\(error)"
                XCTAssertTrue(message.hasPrefix("GGUF \(url.path): ") && message.contains(needle), message, line: line)
            }
        }
        assertThrows(try f.string("absent.key"), "key 'absent.key' is missing")
        assertThrows(try f.int("absent.key"), "key 'absent.key' is missing")
        assertThrows(try f.string("test.u32"), "key 'test.u32' is u32 (4000000000), expected a string")
        assertThrows(try f.int("test.string"), "key 'test.string' is string")
        assertThrows(try f.int("test.u64"), "key 'test.u64' is u64")             // beyond Int.max
        assertThrows(try f.int("test.f32"), "expected an integer")
        assertThrows(try f.strings("test.i32s"), "key 'test.i32s' is array of 4 i32, expected an array of strings")
        assertThrows(try f.ints("test.strings"), "key 'test.strings'")
        assertThrows(try f.optionalBool("test.u8"), "key 'test.u8' is u8")
    }

    /// GGUF version 2 has the layout of version 3.
    func testVersion2() throws {
        var bytes = [UInt8](try Data(contentsOf: ggufFixtures.appendingPathComponent("aligned64.gguf")))
        bytes[4] = 2
        let f = try GGUFFile(url: try write(bytes, "v2.gguf"))
        XCTAssertEqual(f.version, 2)
        XCTAssertEqual(f.tensors.count, 4)
    }

    // MARK: Writer

    func testWriterRoundTrip() throws {
        let url = dir.appendingPathComponent("out.gguf")
        let a: [Float] = (0..<6).map { Float($0) * 0.25 - 1 }
        let b: [Float] = [1, -2, 0.1, 65504, 1e-7, -0.0, 70000, 3.14159, .infinity, 65520, 65519.996, 6e-8]
        let meta: [(String, GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("llama.context_length", .u32(8192)),
            ("llama.rope.freq_base", .f32(100000)),
            ("tokenizer.ggml.tokens", .array([.string("a"), .string("Ġb"), .string("")])),
            ("tokenizer.ggml.token_type", .array([.i32(1), .i32(1), .i32(3)])),
            ("tokenizer.ggml.scores", .array([.f32(0), .f32(-1.5), .f32(2)])),
            ("t.u8", .u8(1)), ("t.i8", .i8(-1)), ("t.u16", .u16(2)), ("t.i16", .i16(-2)), ("t.i32", .i32(-3)),
            ("t.bool", .bool(false)), ("t.u64", .uint(.max)), ("t.i64", .int(.min)), ("t.f64", .float(-0.5)),
            ("t.empty", .array([])), ("t.nested", .array([.array([.u8(1)]), .array([])])),
        ]
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try GGUFWriter.write(to: url, metadata: meta, tensors: [("a", [2, 3], .f32, pa), ("b", [3, 4], .f16, pb),
                                                                        ("empty", [0, 4], .f32, UnsafeBufferPointer(start: nil, count: 0))])
            }
        }
        let f = try GGUFFile(url: url)
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.keys, meta.map(\.0))
        for (k, v) in meta { XCTAssertEqual(f.metadata[k], v, k) }
        XCTAssertEqual(f.tensors.map(\.name), ["a", "b", "empty"])
        XCTAssertEqual(f.tensors.map(\.dims), [[3, 2], [4, 3], [4, 0]])
        XCTAssertEqual(f.tensors.map(\.type), [.f32, .f16, .f32])
        XCTAssertEqual(f.tensors.map { ($0.offset - f.dataOffset) % 32 }, [0, 0, 0])
        XCTAssertEqual(try f.dequantize(f.tensors[0]), a)
        // F16 rounds to nearest even: 0.1 -> 0.0999755859375, 70000 and 65520 -> inf, 65519.996 -> 65504,
        // 1e-7 -> the subnormal 2 × 2^-24, 6e-8 -> 1 × 2^-24
        let halves = try f.dequantize(f.tensors[1])
        XCTAssertEqual(halves, [1, -2, 0.0999755859375, 65504, 0x1p-23, 0, .infinity, 3.140625, .infinity, .infinity, 65504, 0x1p-24])
        XCTAssertEqual(halves[5].sign, .minus)
        XCTAssertEqual(try f.dequantize(f.tensors[2]), [])
        XCTAssertEqual(f.fileSize % 32, 0)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }

    func testWriterHonoursAlignmentKey() throws {
        let url = dir.appendingPathComponent("a64.gguf")
        let x: [Float] = [1, 2, 3]
        try x.withUnsafeBufferPointer { p in
            try GGUFWriter.write(to: url, metadata: [("general.alignment", .u32(64))],
                                 tensors: [("x", [3], .f32, p), ("y", [1, 3], .f16, p)])
        }
        let f = try GGUFFile(url: url)
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.dataOffset % 64, 0)
        XCTAssertEqual(f.tensors.map { $0.offset - f.dataOffset }, [0, 64])
        XCTAssertEqual(try f.dequantize(f.tensors[1]), x)
    }

    /// Checked once by hand (reference/make_gguf_fixtures.py --check on this file): gguf-py 0.19's GGUFReader
    /// reads every key with the type written here (STRING, UINT32, FLOAT32, ARRAY of STRING / INT32 / FLOAT32,
    /// UINT8 ... FLOAT64, a nested ARRAY of ARRAY of STRING) and the tensors as w32 F32 shape [3, 2]
    /// [-1.0, -0.75, ...], w16 F16 [8] [1.0, -2.0, 0.0999755859375, 65504.0, 1.19e-07, -0.0, inf, 3.140625].
    func testWriterOutputForLlamaCpp() throws {
        let url = dir.appendingPathComponent("check.gguf")
        let w32: [Float] = (0..<6).map { Float($0) * 0.25 - 1 }
        let w16: [Float] = [1, -2, 0.1, 65504, 1e-7, -0.0, 70000, 3.14159]
        let meta: [(String, GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("llama.context_length", .u32(8192)),
            ("llama.rope.freq_base", .f32(100000)),
            ("llama.attention.layer_norm_rms_epsilon", .f32(1e-5)),
            ("tokenizer.ggml.bos_token_id", .u32(1)),
            ("tokenizer.ggml.tokens", .array([.string("a"), .string("Ġb"), .string("<|im_end|>")])),
            ("tokenizer.ggml.token_type", .array([.i32(1), .i32(1), .i32(3)])),
            ("tokenizer.ggml.scores", .array([.f32(0), .f32(-1.5), .f32(2)])),
            ("test.u8", .u8(200)), ("test.i8", .i8(-100)), ("test.u16", .u16(60000)), ("test.i16", .i16(-30000)),
            ("test.i32", .i32(-7)), ("test.bool", .bool(true)), ("test.u64", .uint(18_000_000_000_000_000_000)),
            ("test.i64", .int(-9_000_000_000_000_000_000)), ("test.f64", .float(2.5)),
            ("test.nested", .array([.array([.string("x"), .string("y")]), .array([.string("z")])])),
        ]
        try w32.withUnsafeBufferPointer { p32 in
            try w16.withUnsafeBufferPointer { p16 in
                try GGUFWriter.write(to: url, metadata: meta, tensors: [("w32", [2, 3], .f32, p32), ("w16", [8], .f16, p16)])
            }
        }
        // The exact bytes of the start: magic, version 3, 2 tensors, 18 keys, then the first key.
        let bytes = [UInt8](try Data(contentsOf: url))
        var head = GGUFBytes()
        head.header(tensors: 2, kvs: 18)
        head.string("general.architecture"); head.u32(8); head.string("llama")
        head.string("llama.context_length"); head.u32(4); head.u32(8192)
        XCTAssertEqual(Array(bytes.prefix(head.bytes.count)), head.bytes)
        let f = try GGUFFile(url: url)
        XCTAssertEqual(try f.int("llama.context_length"), 8192)
        XCTAssertEqual(try f.dequantize(f.tensors[1]).map(\.bitPattern),
                       ([1, -2, 0.0999755859375, 65504, 0x1p-23, -0.0, .infinity, 3.140625] as [Float]).map(\.bitPattern))
    }

    func testWriterRefusesBadInput() throws {
        let url = dir.appendingPathComponent("refused.gguf")
        let x: [Float] = [1, 2, 3, 4]
        func assertRefuses(_ meta: [(String, GGUFValue)], _ tensors: [(String, [Int], GGMLType)], _ needle: String, line: UInt = #line) {
            XCTAssertThrowsError(try x.withUnsafeBufferPointer { p in
                try GGUFWriter.write(to: url, metadata: meta, tensors: tensors.map { ($0.0, $0.1, $0.2, p) })
            }, line: line) { error in
                let message = (error as? TensorError)?.message ?? "\(error)"
                XCTAssertTrue(message.contains(needle), message, line: line)
            }
        }
        assertRefuses([("k", .u8(1)), ("k", .u8(2))], [], "duplicate key 'k'")
        assertRefuses([("k", .array([.u8(1), .i8(2)]))], [], "one type")
        assertRefuses([("general.alignment", .u32(48))], [], "power of 2")
        assertRefuses([("general.alignment", .uint(64))], [], "general.alignment must be a .u32")
        assertRefuses([], [("q", [4], .q8_0)], "F32 and F16")
        assertRefuses([], [("t", [2, 3], .f32)], "dims [2, 3] but 4 values")
        assertRefuses([], [("t", [4], .f32), ("t", [4], .f32)], "duplicate tensor name 't'")
        assertRefuses([], [(String(repeating: "n", count: 64), [4], .f32)], "longer than 63 bytes")
        assertRefuses([], [("t", [1, 1, 1, 1, 4], .f32)], "dims")
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testFP16Conversion() {
        // halfToFloat against exact values; floatToHalf(halfToFloat(h)) == h for every non-NaN half.
        XCTAssertEqual(halfToFloat(0x3C00), 1)
        XCTAssertEqual(halfToFloat(0xC000), -2)
        XCTAssertEqual(halfToFloat(0x0001), 0x1p-24)
        XCTAssertEqual(halfToFloat(0x03FF), 1023 * 0x1p-24)
        XCTAssertEqual(halfToFloat(0x0400), 0x1p-14)
        XCTAssertEqual(halfToFloat(0x7BFF), 65504)
        XCTAssertEqual(halfToFloat(0xFC00), -.infinity)
        XCTAssertEqual(halfToFloat(0x7E01).bitPattern, 0x7FC0_2000)
        XCTAssertEqual(halfToFloat(0x7C01).bitPattern, 0x7FC0_2000, "signalling NaN comes out quiet, like F16C")
        for h in 0...UInt16.max where (h & 0x7C00) != 0x7C00 || (h & 0x3FF) == 0 {
            XCTAssertEqual(floatToHalf(halfToFloat(h)), h)
        }
        XCTAssertEqual(floatToHalf(1 + 0x1p-11), 0x3C00, "a tie rounds to even")
        XCTAssertEqual(floatToHalf(1 + 0x1p-11 + 0x1p-20), 0x3C01)
        XCTAssertEqual(floatToHalf(1 + 3 * 0x1p-11), 0x3C02, "a tie rounds to even (up)")
        XCTAssertEqual(floatToHalf(0x1p-25), 0, "half of the smallest subnormal ties to even zero")
        XCTAssertEqual(floatToHalf(0x1p-25 * 1.5), 1)
        XCTAssertEqual(floatToHalf(0x1p-14 * (1 - 0x1p-12)), 0x0400, "rounds up into the smallest normal")
        XCTAssertEqual(floatToHalf(-65520), 0xFC00)
        XCTAssertEqual(floatToHalf(.nan) & 0x7E00, 0x7E00)
    }

    // MARK: Corrupt, truncated and hostile files

    func testRejectsMalformedHeaders() throws {
        var b = GGUFBytes()
        try assertRejects([], "truncated: 0 bytes")
        try assertRejects(Array("GGUF".utf8) + [3, 0, 0, 0], "truncated: 8 bytes")

        b = GGUFBytes(); b.bytes += Array("GGML".utf8); b.u32(3); b.u64(0); b.u64(0)
        try assertRejects(b.bytes, "not a GGUF file (magic 47 47 4d 4c \"GGML\", expected \"GGUF\")")
        b = GGUFBytes(); b.bytes += [0x7F, 0x45, 0x4C, 0x46]; b.u32(3); b.u64(0); b.u64(0)
        try assertRejects(b.bytes, "not a GGUF file (magic 7f 45 4c 46 \".ELF\"")
        for v: UInt32 in [0, 1, 4, 0xFFFF_FFFF] {
            b = GGUFBytes(); b.header(version: v, tensors: 0, kvs: 0)
            try assertRejects(b.bytes, "unsupported GGUF version \(v) (supported: 2, 3)")
        }
        b = GGUFBytes(); b.header(version: UInt32(3).byteSwapped, tensors: 0, kvs: 0)
        try assertRejects(b.bytes, "big-endian GGUF")

        // Counts that the file cannot hold are refused before anything is allocated.
        b = GGUFBytes(); b.header(tensors: 0, kvs: .max)
        try assertRejects(b.bytes, "key-value count 18446744073709551615 cannot fit in the 0 bytes")
        b = GGUFBytes(); b.header(tensors: 1 << 62, kvs: 0); b.data(1000)
        try assertRejects(b.bytes, "tensor count 4611686018427387904 cannot fit in the 1000 bytes")
        b = GGUFBytes(); b.header(tensors: 0, kvs: 2); b.kvU32("a", 1); b.data(10)
        try assertRejects(b.bytes, "truncated at byte")

        // The smallest valid file: no tensors, no keys.
        b = GGUFBytes(); b.header(tensors: 0, kvs: 0)
        let f = try GGUFFile(url: try write(b.bytes, "empty.gguf"))
        XCTAssertEqual(f.tensors.count, 0)
        XCTAssertEqual(f.metadata.count, 0)
    }

    func testRejectsMalformedMetadata() throws {
        var b = GGUFBytes()
        b.header(tensors: 0, kvs: 1); b.u64(1 << 40); b.data(20)
        try assertRejects(b.bytes, "key 0 is 1099511627776 bytes long, 20 left")
        b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.u64(.max); b.data(20)
        try assertRejects(b.bytes, "key 0 is 18446744073709551615 bytes long")
        b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.string("k"); b.u32(8); b.u64(100); b.data(5)
        try assertRejects(b.bytes, "'k' is 100 bytes long, 5 left")
        b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.string("k"); b.u32(13); b.data(8)
        try assertRejects(b.bytes, "'k' has unknown value type 13")
        b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.string("k"); b.u32(7); b.u8(2)
        try assertRejects(b.bytes, "'k' is a bool with byte 2")
        b = GGUFBytes(); b.header(tensors: 0, kvs: 2); b.kvU32("k", 1); b.kvU32("k", 2)
        try assertRejects(b.bytes, "duplicate key 'k'")
        // Arrays: an element count past the end (u8 and string elements), an unknown element type, deep nesting.
        b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.string("k"); b.u32(9); b.u32(0); b.u64(1 << 62); b.data(16)
        try assertRejects(b.bytes, "'k' has 4611686018427387904 elements of type u8, 16 bytes left")
        b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.string("k"); b.u32(9); b.u32(8); b.u64(3); b.data(16)
        try assertRejects(b.bytes, "'k' has 3 elements of type string, 16 bytes left")
        b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.string("k"); b.u32(9); b.u32(8); b.u64(2); b.string("ok"); b.u64(1 << 50)
        try assertRejects(b.bytes, "'k'[1] is 1125899906842624 bytes long")
        b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.string("k"); b.u32(9); b.u32(42); b.u64(1); b.data(8)
        try assertRejects(b.bytes, "'k' is an array of unknown value type 42")
        b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.string("k"); b.u32(9)
        for _ in 0..<20 { b.u32(9); b.u64(1) }
        b.u32(0); b.u64(0)
        try assertRejects(b.bytes, "arrays nested more than 8 deep")
        // general.alignment must be a u32 power of 2.
        for a: UInt32 in [0, 3, 48, 1 << 31] {
            b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.kvU32("general.alignment", a)
            try assertRejects(b.bytes, "general.alignment \(a) is not a power of 2")
        }
        b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.string("general.alignment"); b.u32(10); b.u64(32)
        try assertRejects(b.bytes, "general.alignment is u64, expected u32")
    }

    func testRejectsMalformedTensorInfos() throws {
        /// One tensor described by `info`, with `dataBytes` bytes of data after the padding.
        func file(_ info: (inout GGUFBytes) -> Void, dataBytes: Int = 64, alignment: UInt32? = nil) -> [UInt8] {
            var b = GGUFBytes()
            b.header(tensors: 1, kvs: alignment == nil ? 0 : 1)
            if let alignment { b.kvU32("general.alignment", alignment) }
            info(&b)
            b.pad(to: Int(alignment ?? 32))
            b.data(dataBytes)
            return b.bytes
        }
        // A valid one first: F32 [4, 2] = 32 bytes.
        let ok = try GGUFFile(url: try write(file { $0.tensorInfo("t", dims: [4, 2], type: 0, offset: 0) }, "ok.gguf"))
        XCTAssertEqual(ok.tensors.first?.shape, [2, 4])

        try assertRejects(file { $0.tensorInfo("t", dims: [], type: 0, offset: 0) }, "tensor 't' has 0 dimensions (supported: 1 to 4)")
        try assertRejects(file { $0.tensorInfo("t", dims: [1, 1, 1, 1, 1], type: 0, offset: 0) }, "tensor 't' has 5 dimensions")
        try assertRejects(file { $0.string("t"); $0.u32(.max); $0.data(64) }, "tensor 't' has 4294967295 dimensions")
        try assertRejects(file { $0.tensorInfo("t", dims: [1 << 32, 1 << 32], type: 0, offset: 0) }, "overflow")
        try assertRejects(file { $0.tensorInfo("t", dims: [1, 1 << 40, 1 << 40], type: 0, offset: 0) }, "overflow")
        try assertRejects(file { $0.tensorInfo("t", dims: [0, 1 << 40, 1 << 40], type: 0, offset: 0) }, "overflow")
        // A zero makes the product 0 whatever the other dims, in the reader and the writer (found by the fuzzer).
        let huge = try GGUFFile(url: try write(file { $0.tensorInfo("t", dims: [1 << 62, 1 << 62, 0, 1 << 62], type: 0, offset: 0) }, "zero.gguf"))
        XCTAssertEqual(huge.tensors.first?.elementCount, 0)
        XCTAssertEqual(try huge.dequantize(huge.tensors[0]), [])
        try assertRejects(file { $0.tensorInfo("t", dims: [1 << 63], type: 0, offset: 0) }, "dimension 0 is 9223372036854775808, too large")
        try assertRejects(file { $0.tensorInfo("t", dims: [1 << 61], type: 0, offset: 0) }, "needs more than 2^63 bytes")
        try assertRejects(file { $0.tensorInfo("t", dims: [1 << 40], type: 0, offset: 0) }, "needs 4398046511104 bytes, more than the file's")
        try assertRejects(file { $0.tensorInfo("t", dims: [32], type: 0, offset: 0) }, "runs past the end of the file")
        try assertRejects(file({ $0.tensorInfo("t", dims: [4], type: 0, offset: 0) }, dataBytes: 15), "runs past the end of the file")
        try assertRejects(file { $0.tensorInfo("t", dims: [4], type: 0, offset: 1 << 63) }, "runs past the end of the file")
        try assertRejects(file { $0.tensorInfo("t", dims: [4], type: 0, offset: 16) }, "offset 16 is not a multiple of the alignment 32")
        try assertRejects(file({ $0.tensorInfo("t", dims: [4], type: 0, offset: 32) }, alignment: 64),
                          "offset 32 is not a multiple of the alignment 64")
        try assertRejects(file { $0.tensorInfo("t", dims: [4], type: 99, offset: 0) }, "tensor 't' has unknown ggml type id 99")
        try assertRejects(file { $0.tensorInfo("t", dims: [4], type: 4, offset: 0) }, "unknown ggml type id 4")
        try assertRejects(file { $0.tensorInfo("t", dims: [100, 2], type: 12, offset: 0) },
                          "tensor 't' of type Q4_K has rows of 100 elements, not a multiple of its block size 256")
        try assertRejects(file { $0.tensorInfo("t", dims: [16], type: 8, offset: 0) }, "not a multiple of its block size 32")
        try assertRejects(file { $0.tensorInfo(String(repeating: "x", count: 64), dims: [4], type: 0, offset: 0) },
                          "is 64 bytes, longer than 63")
        var cut = GGUFBytes()   // a tensor info that ends after its dims (the name makes it long enough for the count)
        cut.header(tensors: 1, kvs: 0); cut.string(String(repeating: "t", count: 24)); cut.u32(1); cut.u64(4)
        try assertRejects(cut.bytes, "truncated at byte 68: the type of tensor 'tttttttttttttttttttttttt' needs 4 bytes, 0 left")

        var b = GGUFBytes()
        b.header(tensors: 2, kvs: 0)
        b.tensorInfo("t", dims: [4], type: 0, offset: 0); b.tensorInfo("t", dims: [4], type: 0, offset: 32)
        b.pad(); b.data(64)
        try assertRejects(b.bytes, "duplicate tensor name 't'")

        // Found by the fuzzer: empty tensors (0 bytes) in a file that ends before its data section would have had
        // offsets past the end of the file.
        b = GGUFBytes()
        b.header(tensors: 1, kvs: 0); b.tensorInfo("e", dims: [0, 4], type: 0, offset: 0)
        try assertRejects(b.bytes, "truncated: the data section starts at byte 96, past the end of the file (65 bytes)")
        b.pad()
        XCTAssertEqual(try GGUFFile(url: try write(b.bytes, "empty-tensor.gguf")).tensors.first?.byteCount, 0)
    }

    func testRejectsWhatIsNotAFile() throws {
        let missing = dir.appendingPathComponent("missing.gguf")
        XCTAssertThrowsError(try GGUFFile(url: missing)) { error in
            XCTAssertTrue((error as? TensorError)?.message.hasPrefix("GGUF \(missing.path): cannot open") == true, "\(error)")
        }
        XCTAssertThrowsError(try GGUFFile(url: dir)) { error in
            XCTAssertEqual((error as? TensorError)?.message, "GGUF \(dir.path): not a regular file")
        }
    }

    /// Every prefix of a valid file is refused with a TensorError (the header ones at every byte, the data ones
    /// every 97 bytes), and random byte changes in the header either parse or are refused, never crash.
    func testTruncationsAndCorruptionsNeverCrash() throws {
        let full = [UInt8](try Data(contentsOf: ggufFixtures.appendingPathComponent("types.gguf")))
        let valid = try GGUFFile(url: ggufFixtures.appendingPathComponent("types.gguf"))
        let dataOffset = valid.dataOffset, dataEnd = valid.tensors.map { $0.offset + $0.byteCount }.max()!
        var lengths = Array(0..<dataOffset + 8)
        lengths += stride(from: dataOffset + 8, to: dataEnd, by: 97)
        for n in lengths {
            let url = try write(Array(full.prefix(n)), "prefix.gguf")
            XCTAssertThrowsError(try GGUFFile(url: url), "prefix \(n)") { error in
                XCTAssertTrue((error as? TensorError)?.message.hasPrefix("GGUF \(url.path): ") == true, "\(n): \(error)")
            }
        }
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Int(seed >> 33) }
        var parsed = 0
        for _ in 0..<400 {
            var bytes = full
            for _ in 0..<(1 + next() % 3) { bytes[next() % dataOffset] = UInt8(truncatingIfNeeded: next()) }
            let url = try write(bytes, "corrupt.gguf")
            do {
                let f = try GGUFFile(url: url)
                parsed += 1
                for t in f.tensors where t.type.canDequantize { _ = try f.dequantize(t) }
            } catch let e as TensorError {
                XCTAssertTrue(e.message.hasPrefix("GGUF \(url.path): "), e.message)
            }
        }
        XCTAssertGreaterThan(parsed, 0, "some changes (in string bytes, values) still parse")
    }
}
