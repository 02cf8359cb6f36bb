import Foundation

/// `mkdir -p dir`, failing with a message that names the directory, the part that failed and the system's
/// reason ("Not a directory", "Permission denied") rather than Foundation's error domain and code.
public func makeDirectory(_ dir: URL) throws {
    var path = ""
    for part in dir.standardizedFileURL.pathComponents {
        path = path.isEmpty || path == "/" ? path + part : path + "/" + part
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw ConfigError("cannot create the directory \(dir.path): \(path) is a file")
            }
            continue
        }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw ConfigError("cannot create the directory \(dir.path): \(path): \(String(cString: strerror(errno)))")
        }
    }
}
