import Foundation

/// The `tir` executable built next to this test bundle (`swift build --build-tests` builds it), or nil.
func builtTir() -> URL? {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [dir, dir.deletingLastPathComponent()] {
        let u = candidate.appendingPathComponent("tir")
        if FileManager.default.isExecutableFile(atPath: u.path) { return u }
    }
    return nil
}
