import Foundation
import Tensor
import XCTest
@testable import Model

/// A model written out loads back as the same model: same token ids, same log-probs (bit for bit in fp32).
final class ModelExportTests: XCTestCase {
    private let texts = ["def f(x):\n    return x * 2\n", "<|im_start|>user\nCafé 👋🏽 42<|im_end|>\n", "a\r\nb  c\t"]

    private func scores(_ m: LanguageModel) throws -> [[Float]] {
        try texts.map { text in
            let ids = m.tokenizer.encode(text)
            return try noGrad {
                try m.policy.tokenLogProbs(tokens: Array(ids.dropLast()), targets: Array(ids.dropFirst()), batch: 1,
                                           seqLen: ids.count - 1)
            }.array
        }
    }

    private func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("tir-export-\(UUID().uuidString)-\(name)")
    }

    func testRoundTripsThroughHuggingFaceAndGGUF() throws {
        for source in ["tiny-llama.gguf", "tiny-qwen2"] {
            let m = try LanguageModel.load(ModelFixtures.url("models/" + source))
            let expected = try scores(m)
            let dir = temporary("hf"), gguf = temporary("m.gguf"), half = temporary("h.gguf")
            defer { for u in [dir, gguf, half] { try? FileManager.default.removeItem(at: u) } }

            try ModelExport.writeHuggingFace(m, to: dir)
            let hf = try LanguageModel.load(dir)
            XCTAssertEqual(hf.policy.config, m.policy.config, source)
            XCTAssertEqual(hf.special, m.special, source)
            XCTAssertEqual(hf.chatTemplate, m.chatTemplate, source)
            XCTAssertEqual(try scores(hf), expected, "\(source) -> Hugging Face directory")
            for t in texts { XCTAssertEqual(hf.tokenizer.encode(t), m.tokenizer.encode(t), source) }

            try ModelExport.writeGGUF(m, to: gguf)
            let g = try LanguageModel.load(gguf)
            XCTAssertEqual(g.policy.config.qkvDim, m.policy.config.qkvDim, source)
            XCTAssertEqual(try scores(g), expected, "\(source) -> GGUF F32")
            for t in texts { XCTAssertEqual(g.tokenizer.encode(t), m.tokenizer.encode(t), source) }
            XCTAssertEqual(try g.chatFormat(), try m.chatFormat())

            try ModelExport.writeGGUF(m, to: half, type: .f16)
            let worst = zip(try scores(try LanguageModel.load(half)).joined(), expected.joined()).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 0.05, "\(source) -> GGUF F16 (tiny-qwen2's weights are F16 already: exact)")
        }
    }

    func testPermutationIsInvertible() {
        let heads = 3, hd = 4, cols = 2, n = heads * hd * cols
        let src = (0..<n).map { Float($0) }
        var permuted = [Float](repeating: 0, count: n), back = permuted
        GGUFModel.reorderQK(src, into: &permuted, heads: heads, headDim: hd, cols: cols, toGGUF: true)
        GGUFModel.reorderQK(permuted, into: &back, heads: heads, headDim: hd, cols: cols, toGGUF: false)
        XCTAssertEqual(back, src)
        // Within a head, GGUF row 1 (i = 0, s = 1) is HF row hd/2.
        XCTAssertEqual(Array(permuted[cols..<(2 * cols)]), Array(src[(hd / 2 * cols)..<((hd / 2 + 1) * cols)]))
    }

    func testByteTokenizerModelsHaveNoGGUF() throws {
        let p = try Policy(config: tinyConfig, seed: 1)
        let dir = temporary("toy")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Checkpoint.save(p, to: dir)
        let toy = try LanguageModel.load(dir)
        XCTAssertTrue(toy.tokenizer is ByteTokenizer)
        XCTAssertThrowsError(try ModelExport.writeGGUF(toy, to: temporary("toy.gguf"))) {
            XCTAssertTrue("\($0)".contains("byte tokenizer"), "\($0)")
        }
    }
}
