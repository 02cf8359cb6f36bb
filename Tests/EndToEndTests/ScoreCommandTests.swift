import Foundation
import XCTest

/// `tir score --weights FORMAT` scores through a decode session in that format: fp32 gives the training
/// forward's log-probs, q8 and bf16 close ones that differ (on the tiny Llama GGUF fixture).
final class ScoreCommandTests: XCTestCase {
    func score(_ extra: [String]) throws -> [Double] {
        guard let exe = builtTir() else { throw XCTSkip("the tir executable is not built next to the tests") }
        let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelTests/Fixtures/models/tiny-llama.gguf")
        let p = Process(), out = Pipe()
        p.executableURL = exe
        p.arguments = ["score", "--checkpoint", model.path, "--text", "print(4817 * 9283) -> 44716211", "--json"] + extra
        p.standardOutput = out
        p.standardError = Pipe()
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "tir score \(extra)")
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try XCTUnwrap(object?["logprobs"] as? [Double])
    }

    func testWeightsScoreThroughADecodeSession() throws {
        let forward = try score([]), fp32 = try score(["--weights", "fp32"])
        XCTAssertGreaterThan(forward.count, 10)
        XCTAssertEqual(fp32.count, forward.count)
        for (a, b) in zip(fp32, forward) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        for format in ["bf16", "q8"] {
            let got = try score(["--weights", format])
            let worst = zip(got, forward).map { abs($0 - $1) }.max()!
            XCTAssertGreaterThan(worst, 0, format)
            XCTAssertLessThan(worst, 0.2, format)   // measured: q8 0.054 on this random tiny model
        }
    }
}
