import Foundation
import XCTest

/// Paths of the committed fixtures (found next to this file: the test target declares no resources) and of
/// the real model files, which are not committed: scripts/get-model.sh puts them in ~/.cache/swifttir/models
/// (CI fetches SmolLM2 and checks its sha256); $TIR_SMOLLM2_GGUF / $TIR_QWEN_GGUF point elsewhere.
enum ModelFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func url(_ relative: String) -> URL { directory.appendingPathComponent(relative) }

    static let smolLM2 = ("TIR_SMOLLM2_GGUF", "smollm2-135m-instruct-q4_1.gguf")
    static let qwen = ("TIR_QWEN_GGUF", "qwen2.5-coder-0.5b-instruct.gguf")

    /// The real model file, or nil when it is not on this machine.
    static func realModel(_ which: (env: String, file: String)) -> URL? {
        let path = ProcessInfo.processInfo.environment[which.env]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/swifttir/models/\(which.file)").path
        return FileManager.default.fileExists(atPath: path) ? URL(fileURLWithPath: path) : nil
    }
}
