import Foundation
import Model
import Tensor

/// How a command treats a run directory that may already hold a run.
public enum RunStart: Sendable, Equatable {
    /// Start a run; a run already there is an error (never overwritten silently).
    case new
    /// Continue the run there from its last checkpoint (from the start when it has none yet); no run is an error.
    case resume
    /// Continue the run there if there is one, else start one (the demo and the experiment, which re-run).
    case resumeOrNew
    /// Delete the run there and start over.
    case force
}

/// A training run on disk. A run exists once its settings file is written (atomically, first). Checkpoints are
/// versioned directories `checkpoint-000040/`; the pointer file `latest` names the current one and is replaced
/// atomically (write a temporary, fsync, rename, fsync the directory), which is the commit point: a kill at
/// any moment leaves either the old or the new checkpoint current, and whatever the kill interrupted is only
/// temporaries or a checkpoint newer than the pointer, both removed by `recover()`. The newest `keep`
/// checkpoints stay.
public struct RunDirectory: Sendable {
    public let url: URL
    /// "config.json" for GRPO runs, "pretrain.json" for pretraining.
    public let settingsName: String
    /// Further files that belong to the run (metrics.jsonl, ...): removed by `--force` with the rest.
    public let runFiles: [String]
    /// The single checkpoint directory of runs written before versioned checkpoints ("checkpoint").
    public let legacyCheckpoint: String?
    public var keep: Int

    public init(_ url: URL, settings: String, runFiles: [String] = [], legacyCheckpoint: String? = nil, keep: Int = 2) {
        self.url = url
        self.settingsName = settings
        self.runFiles = runFiles
        self.legacyCheckpoint = legacyCheckpoint
        self.keep = max(1, keep)
    }

    public static let pointerName = "latest"
    static let tempPrefix = ".tmp-"

    public var settingsURL: URL { url.appendingPathComponent(settingsName) }
    var pointerURL: URL { url.appendingPathComponent(Self.pointerName) }

    public static func checkpointName(step: Int) -> String { String(format: "checkpoint-%06d", step) }

    static func step(ofCheckpoint name: String) -> Int? {
        guard name.hasPrefix("checkpoint-"), name.count == "checkpoint-000000".count else { return nil }
        return Int(name.dropFirst("checkpoint-".count))
    }

    var entries: [String] { (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? [] }

    /// Steps of the versioned checkpoint directories present, ascending (committed or not).
    func checkpointSteps() -> [Int] { entries.compactMap(Self.step(ofCheckpoint:)).sorted() }

    var legacyURL: URL? {
        legacyCheckpoint.map { url.appendingPathComponent($0) }.flatMap { TrainCheckpoint.hasState($0) ? $0 : nil }
    }

    /// Whether a run is there: its settings file, a committed checkpoint or an old-layout checkpoint.
    public var hasRun: Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: settingsURL.path) || fm.fileExists(atPath: pointerURL.path) || legacyURL != nil
    }

    /// The current checkpoint: the one `latest` names; for runs of the old layout, their single checkpoint.
    public func latestCheckpoint() throws -> URL? {
        guard let data = FileManager.default.contents(atPath: pointerURL.path) else { return legacyURL }
        let name = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard Self.step(ofCheckpoint: name) != nil else {
            throw ConfigError("\(pointerURL.path) is corrupted: it should name a checkpoint-NNNNNN directory, it holds \"\(name.prefix(40))\"")
        }
        let dir = url.appendingPathComponent(name)
        guard TrainCheckpoint.hasState(dir) else {
            throw ConfigError("\(pointerURL.path) names \(name), which is missing or incomplete; the run cannot resume "
                              + "(start it over with --force)")
        }
        return dir
    }

    /// Applies `start` to the directory: deletes the run for `.force`, refuses what would overwrite or find
    /// nothing; returns whether there is a run to continue.
    public func begin(_ start: RunStart, what: String) throws -> Bool {
        switch start {
        case .force:
            try removeRun()
            return false
        case .new:
            try refuseForeignFiles(what: what)
            guard !hasRun else {
                let at = (try? latestCheckpoint()).flatMap { $0 }.flatMap { try? TrainCheckpoint.loadState($0).step }
                throw ConfigError("\(url.path) already holds a \(what) run" + (at.map { " (checkpoint at step \($0))" } ?? "")
                                  + ": pass --resume to continue it, --force to delete it and start over, or choose another --out")
            }
            return false
        case .resume:
            guard hasRun else {
                throw ConfigError("nothing to resume in \(url.path): it holds no \(what) run (no \(settingsName)); "
                                  + "start one without --resume")
            }
            return true
        case .resumeOrNew:
            try refuseForeignFiles(what: what)
            return hasRun
        }
    }

    /// A directory that holds no run but other files is not ours to fill: a new run would overwrite or mix
    /// with them (a metrics.jsonl from elsewhere, notes). Hidden files (the lock, temporaries) do not count.
    func refuseForeignFiles(what: String) throws {
        guard !hasRun else { return }
        let foreign = entries.filter { !$0.hasPrefix(".") }.sorted()
        guard foreign.isEmpty else {
            throw ConfigError("\(url.path) is not empty (\(foreign.prefix(3).joined(separator: ", "))\(foreign.count > 3 ? ", ..." : "")) "
                              + "and holds no \(what) run to resume: choose another --out, or pass --force to write the run there "
                              + "(its files are replaced, others stay)")
        }
    }

    /// Throws what `begin` would refuse, without changing anything (commands call it before slow set-up).
    public func check(_ start: RunStart, what: String) throws {
        if start == .resume || start == .new { _ = try begin(start, what: what) }
    }

    /// Opens the run for writing: refuses what `start` forbids (before creating anything), takes the run's lock,
    /// applies `start` and cleans up after a kill. Returns the lock (hold it while writing) and whether there is
    /// a run to continue.
    public func open(_ start: RunStart, what: String) throws -> (lock: RunLock, resume: Bool) {
        try check(start, what: what)
        let lock = try self.lock()
        let resume = try begin(start, what: what)
        try recover()
        return (lock, resume)
    }

    /// Cleans up after a kill: temporaries, checkpoint directories the pointer does not reach (a kill between
    /// their rename and the pointer swap), and an old-layout checkpoint left renamed aside by a killed swap.
    public func recover() throws {
        let fm = FileManager.default
        let names = entries
        for n in names where n.hasPrefix(Self.tempPrefix) {
            try fm.removeItem(at: url.appendingPathComponent(n))
        }
        if let legacy = legacyCheckpoint, !fm.fileExists(atPath: url.appendingPathComponent(legacy).path),
           let aside = names.filter({ $0.hasPrefix(".\(legacy).old-") }).sorted().last {
            try fm.moveItem(at: url.appendingPathComponent(aside), to: url.appendingPathComponent(legacy))
        }
        if let legacy = legacyCheckpoint {
            for n in names where n.hasPrefix(".\(legacy).tmp-") || n.hasPrefix(".\(legacy).old-") {
                try? fm.removeItem(at: url.appendingPathComponent(n))
            }
        }
        let current = try latestCheckpoint().flatMap { Self.step(ofCheckpoint: $0.lastPathComponent) }
        for s in checkpointSteps() where current == nil || s > current! {
            try fm.removeItem(at: url.appendingPathComponent(Self.checkpointName(step: s)))
        }
        try syncDirectory(url)
    }

    /// Writes checkpoint `step`: `write` fills a temporary directory (every file fsynced), which is renamed to
    /// checkpoint-NNNNNN/; then `latest` is replaced and all but the newest `keep` checkpoints are removed.
    public func commitCheckpoint(step: Int, _ write: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let name = Self.checkpointName(step: step)
        let tmp = url.appendingPathComponent("\(Self.tempPrefix)\(name)-\(getpid())")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        try write(tmp)
        try syncDirectory(tmp)
        TestHook.pause()
        let dir = url.appendingPathComponent(name)
        if fm.fileExists(atPath: dir.path) { try fm.removeItem(at: dir) }   // an uncommitted leftover
        try fm.moveItem(at: tmp, to: dir)
        try syncDirectory(url)
        TestHook.pause()
        try writeAtomically(Data((name + "\n").utf8), name: Self.pointerName)
        TestHook.pause()
        for s in checkpointSteps().dropLast(keep) where s < step {
            try fm.removeItem(at: url.appendingPathComponent(Self.checkpointName(step: s)))
        }
        if let legacy = legacyCheckpoint, fm.fileExists(atPath: url.appendingPathComponent(legacy).path) {
            try fm.removeItem(at: url.appendingPathComponent(legacy))
        }
    }

    /// Replaces the file `name` in the run directory atomically: temporary, fsync, rename, fsync the directory.
    public func writeAtomically(_ data: Data, name: String) throws {
        let tmp = url.appendingPathComponent("\(Self.tempPrefix)\(name)-\(getpid())")
        try writeSynced(data, to: tmp)
        TestHook.pause()
        guard rename(tmp.path, url.appendingPathComponent(name).path) == 0 else {
            throw ConfigError("cannot rename \(tmp.path) to \(name): \(String(cString: strerror(errno)))")
        }
        try syncDirectory(url)
    }

    /// Deletes everything of the run (settings, checkpoints, pointer, run files, temporaries); other files stay.
    public func removeRun() throws {
        let fm = FileManager.default
        let mine = Set([settingsName, Self.pointerName] + runFiles + (legacyCheckpoint.map { [$0] } ?? []))
        for n in entries where mine.contains(n) || Self.step(ofCheckpoint: n) != nil || n.hasPrefix(Self.tempPrefix) {
            try fm.removeItem(at: url.appendingPathComponent(n))
        }
    }

    /// Deletes every checkpoint and the pointer (a finished run whose weights are not needed); the run's
    /// other files stay, so it still counts as finished by its metrics.
    public func removeCheckpoints() throws {
        let fm = FileManager.default
        try? fm.removeItem(at: pointerURL)
        for n in entries where Self.step(ofCheckpoint: n) != nil || n == legacyCheckpoint {
            try fm.removeItem(at: url.appendingPathComponent(n))
        }
    }

    /// Holds an exclusive lock on the run until released, so two processes never write one run.
    public func lock() throws -> RunLock { try RunLock(url.appendingPathComponent(".lock")) }
}

/// An exclusive `flock` on a file, released when this is deallocated or the process dies (also by SIGKILL).
public final class RunLock {
    let fd: Int32

    init(_ file: URL) throws {
        guard let fd = try Self.take(file) else {
            throw ConfigError("another process is writing the run in \(file.deletingLastPathComponent().path): "
                              + "wait for it to finish or choose another --out")
        }
        self.fd = fd
    }

    private init(fd: Int32) { self.fd = fd }

    /// The lock on `file`, or nil when another process holds it (a claim on shared work, see `WorkItem`).
    public static func attempt(_ file: URL) throws -> RunLock? { try take(file).map { RunLock(fd: $0) } }

    /// The locked file's descriptor, nil when another holder has it.
    private static func take(_ file: URL) throws -> Int32? {
        let dir = file.deletingLastPathComponent()
        try makeDirectory(dir)
        let fd = open(file.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ConfigError("cannot open \(file.path): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw ConfigError("cannot lock \(file.path): \(String(cString: strerror(code)))"
                              + (code == ENOLCK ? " (a network file system without locking?)" : ""))
        }
        return fd
    }

    deinit { close(fd) }
}

/// `TIR_TEST_CHECKPOINT_PAUSE_MS=N` sleeps N ms at each stage of a checkpoint commit, so the kill-chaos test
/// lands kills inside the write. Unset (always, outside that test) it costs one environment lookup.
enum TestHook {
    static let pauseMicroseconds: UInt32 = {
        guard let v = ProcessInfo.processInfo.environment["TIR_TEST_CHECKPOINT_PAUSE_MS"], let ms = UInt32(v) else { return 0 }
        return min(ms, 10_000) * 1000
    }()

    static func pause() { if pauseMicroseconds > 0 { usleep(pauseMicroseconds) } }
}

/// The checkpoint directory a path stands for: a run's current checkpoint (versioned or old layout), or the
/// path itself (a plain policy checkpoint).
public func resolveCheckpoint(_ path: URL) throws -> URL {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    if fm.fileExists(atPath: path.path, isDirectory: &isDir) && !isDir.boolValue { return path }   // a .gguf file
    if fm.fileExists(atPath: path.appendingPathComponent(RunDirectory.pointerName).path) {
        if let c = try RunDirectory(path, settings: "").latestCheckpoint() { return c }
    }
    let legacy = path.appendingPathComponent("checkpoint")
    if Checkpoint.exists(legacy) && !Checkpoint.exists(path) { return legacy }
    if !Checkpoint.exists(path) && fm.fileExists(atPath: path.path) {
        throw ConfigError("\(path.path) holds no policy checkpoint yet (no \(RunDirectory.pointerName) file and no model.safetensors)")
    }
    return path
}

/// Whether a path stands for a model: a file (a .gguf) or a checkpoint (see `resolveCheckpoint`).
public func modelExists(_ path: URL) -> Bool {
    guard let c = try? resolveCheckpoint(path) else { return false }
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: c.path, isDirectory: &isDir) && (!isDir.boolValue || Checkpoint.exists(c))
}

/// Whether the model a path stands for reads bytes: tir's toy checkpoints have no tokenizer.json.
public func isByteLevel(_ path: URL) -> Bool {
    guard let c = try? resolveCheckpoint(path) else { return false }
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: c.path, isDirectory: &isDir) && isDir.boolValue
        && !FileManager.default.fileExists(atPath: c.appendingPathComponent("tokenizer.json").path)
}

/// Loads the policy a path stands for (see `resolveCheckpoint`).
public func loadPolicy(_ path: URL) throws -> Policy { try Checkpoint.load(try resolveCheckpoint(path)) }

/// Loads what `--checkpoint` names: a tir run (its current checkpoint), a Hugging Face directory or a .gguf
/// file, with its tokenizer and chat template.
public func loadModel(_ path: URL) throws -> LanguageModel {
    guard FileManager.default.fileExists(atPath: path.path) else {
        throw ConfigError("no model at \(path.path): give a tir run, a Hugging Face directory or a .gguf file")
    }
    return try LanguageModel.load(try resolveCheckpoint(path))
}

/// FNV-1a 64 of a checkpoint's weights, in hex: identifies the base policy a run started from. The weights are
/// model.safetensors, the shard index of a sharded directory, or the file itself for a GGUF file.
public func checkpointFingerprint(_ path: URL) throws -> String {
    var isDir: ObjCBool = false
    let fm = FileManager.default
    let file = !fm.fileExists(atPath: path.path, isDirectory: &isDir) || !isDir.boolValue ? path
        : fm.fileExists(atPath: Checkpoint.weightsURL(path).path) ? Checkpoint.weightsURL(path) : Checkpoint.indexURL(path)
    let data = try Data(contentsOf: file, options: .mappedIfSafe)
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
        for b in raw { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    }
    return String(h, radix: 16)
}
