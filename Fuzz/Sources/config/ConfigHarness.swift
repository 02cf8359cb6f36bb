import Foundation
import FuzzSupport
import GRPO
import Model

// GRPOConfig.load(json:overrides:) (what `tir train --config FILE --set k=v` calls) on arbitrary bytes. Input:
// the JSON text, then after a NUL byte the overrides, one per line. A config it accepts is valid and survives
// its own JSON (`config.json`, which the run directory stores) unchanged; a config it refuses gets a ConfigError
// (whose message names the field), never a raw decoding error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let parts = splitAtNUL(inputBytes(data, size), into: 2)
    let overrides = parts[1].isEmpty ? [] : String(decoding: parts[1], as: UTF8.self)
        .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let config: GRPOConfig
    do {
        config = try GRPOConfig.load(json: Data(parts[0]), overrides: overrides)
    } catch let e as ConfigError {
        note("error: \(e)")
        require(!e.message.isEmpty, "a ConfigError without a message")
        return 0
    } catch {
        require(false, "load threw \(type(of: error)), not a ConfigError: \(error)")
        return 0
    }
    do { try config.validate() } catch { require(false, "load accepted a config that validate rejects: \(error)") }
    let saved = config.json
    note("loaded: \(saved)")
    do {
        let again = try GRPOConfig.load(json: Data(saved.utf8))
        require(again == config, "the config changed through its own JSON: \(saved)")
    } catch {
        require(false, "a loaded config's own JSON does not load: \(error)\n\(saved)")
    }
    return 0
}
