import Foundation
import XCTest
@testable import Sandbox

final class ForkServerSourceTests: XCTestCase {
    /// The binary carries fork_server.py verbatim (ForkServerSource.swift is generated from it).
    func testEmbeddedSourceEqualsTheFile() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/Sandbox/fork_server.py").standardized
        let text = try String(contentsOf: file, encoding: .utf8)
        XCTAssertTrue(forkServerSource == text,
                      "ForkServerSource.swift is stale: run scripts/embed-fork-server.sh after editing fork_server.py")
        XCTAssertTrue(text.contains("def run(src, seq):"))
    }
}
