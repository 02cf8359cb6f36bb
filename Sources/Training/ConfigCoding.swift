import Foundation
import Model

/// The one strict decoder of run configs (GRPO, pretraining): a JSON object merged over the defaults (a file
/// names only what it changes), then `key=value` overrides with dotted paths (`rollout.maxTurnTokens=96`).
/// Unknown keys, values of the wrong type and null where a value is required are errors that name the field
/// by its dotted path. Range checks are the config's own `validate()`.
public struct ConfigSchema<Config: Codable & Sendable>: Sendable {
    public let defaults: Config
    /// Every leaf field by dotted path, with its meaning (`--list-config`, and the hint of a type error).
    public let documentation: [(key: String, doc: String)]
    /// Old names of moved fields (the flat keys of older runs' config.json) -> dotted path. Accepted in
    /// files and overrides; giving both spellings of one field is an error.
    public let aliases: [String: String]
    /// Rewrites a value given under an old name into the new field's form (by new path), e.g. 0 -> null.
    public let migrate: @Sendable (_ path: String, _ value: Any) -> Any

    public init(defaults: Config, documentation: [(key: String, doc: String)], aliases: [String: String] = [:],
                migrate: @escaping @Sendable (String, Any) -> Any = { _, v in v }) {
        self.defaults = defaults
        self.documentation = documentation
        self.aliases = aliases
        self.migrate = migrate
    }

    /// Decodes `json` (empty = `{}`) merged over `base` (default: the defaults), then `overrides` on top.
    public func decode(json: Data, overrides: [String] = [], over base: Config? = nil) throws -> Config {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: json.isEmpty ? Data("{}".utf8) : json)
        } catch {
            throw ConfigError("the config is not valid JSON: \(error.localizedDescription)")
        }
        guard let given = parsed as? [String: Any] else { throw ConfigError("the config must be a JSON object") }
        let defaultTree = try ConfigCoding.tree(base ?? defaults)
        var tree = try renamed(given)
        for o in overrides {
            guard let eq = o.firstIndex(of: "="), eq != o.startIndex else {
                throw ConfigError("override '\(o)' is not key=value (e.g. rollout.maxTurnTokens=96)")
            }
            let key = canonical(String(o[..<eq])), raw = String(o[o.index(after: eq)...])
            // Empty parts kept: "." or "a..b" is an unknown field, not an empty path (which cannot be set).
            let path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            var value = (try? JSONSerialization.jsonObject(with: Data(raw.utf8), options: .fragmentsAllowed)) ?? raw
            // A string field takes the text as given (`--set tasks.data=5.jsonl`, `--set tasks.data=7`).
            if ConfigCoding.value(defaultTree, at: path) is String { value = raw }
            if aliases[String(o[..<eq])] != nil { value = migrate(key, value) }
            try ConfigCoding.checkPath(path, in: defaultTree)
            ConfigCoding.set(&tree, at: path, to: value)
        }
        try ConfigCoding.checkKeys(tree, against: defaultTree, prefix: "")
        let merged = ConfigCoding.merge(defaultTree, tree)
        do {
            return try JSONDecoder().decode(Config.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch let e as DecodingError {
            throw ConfigError(describe(e, merged: merged, given: tree, defaults: defaultTree))
        }
    }

    /// The dotted path of `key`, translating an old flat name.
    public func canonical(_ key: String) -> String { aliases[key] ?? key }

    /// Moves values given under old names to their paths.
    func renamed(_ given: [String: Any]) throws -> [String: Any] {
        var tree = given
        for (old, path) in aliases.sorted(by: { $0.key < $1.key }) {
            // "reward" was a flat string and is now a section: only a non-object value is the old field.
            guard let v = given[old], !(v is [String: Any]) else { continue }
            let parts = path.split(separator: ".").map(String.init)
            tree[old] = nil
            if ConfigCoding.value(tree, at: parts) != nil {
                throw ConfigError("config field '\(path)' is given twice: also under its old name '\(old)'")
            }
            ConfigCoding.set(&tree, at: parts, to: migrate(path, v))
        }
        return tree
    }

    /// Some decoding errors (a number out of its type's range) come without a path: the culprit is then the
    /// first given field that fails alone on top of the defaults.
    func culprit(_ given: [String: Any], defaults: [String: Any]) -> [String]? {
        for leaf in ConfigCoding.leaves(given) {
            let path = leaf.path.split(separator: ".").map(String.init)
            var one = defaults
            ConfigCoding.set(&one, at: path, to: leaf.value)
            guard let data = try? JSONSerialization.data(withJSONObject: one) else { return path }
            if (try? JSONDecoder().decode(Config.self, from: data)) == nil { return path }
        }
        return nil
    }

    func describe(_ error: DecodingError, merged: [String: Any], given: [String: Any], defaults: [String: Any]) -> String {
        func field(_ ctx: DecodingError.Context) -> (String, String) {
            var path = ctx.codingPath.map(\.stringValue)
            if path.isEmpty { path = culprit(given, defaults: defaults) ?? [] }
            let given = ConfigCoding.value(merged, at: path).map(ConfigCoding.show) ?? "nothing"
            return (path.joined(separator: "."), given)
        }
        func hint(_ path: String) -> String {
            documentation.first { $0.key == path }.map { " (\($0.doc))" } ?? ""
        }
        switch error {
        case .typeMismatch(let type, let ctx), .valueNotFound(let type, let ctx):
            let (path, given) = field(ctx)
            return "config field '\(path)' must be \(ConfigCoding.kind(type)), got \(given)\(hint(path))"
        case .dataCorrupted(let ctx):
            let (path, given) = field(ctx)
            return "config field '\(path)' cannot be \(given)\(hint(path))"
        case .keyNotFound(let key, let ctx):
            let path = (ctx.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
            return "config field '\(path)' is missing"
        @unknown default:
            return "config: \(error)"
        }
    }
}

/// JSON trees of configs: `[String: Any]` objects, navigated by dotted paths.
public enum ConfigCoding {
    public static func tree<T: Encodable>(_ value: T) throws -> [String: Any] {
        guard let t = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? [String: Any] else {
            throw ConfigError("a config must encode as a JSON object")
        }
        return t
    }

    /// Every leaf as (dotted path, value), sorted by path.
    public static func leaves(_ tree: [String: Any], prefix: String = "") -> [(path: String, value: Any)] {
        tree.keys.sorted().flatMap { k -> [(path: String, value: Any)] in
            if let sub = tree[k] as? [String: Any] { return leaves(sub, prefix: prefix + k + ".") }
            return [(path: prefix + k, value: tree[k]!)]
        }
    }

    /// The fields in which two configs differ, as "path: a -> b" (empty when equal).
    public static func differences<T: Encodable>(_ a: T, _ b: T) throws -> [String] {
        let x = Dictionary(uniqueKeysWithValues: leaves(try tree(a)).map { ($0.path, show($0.value)) })
        let y = Dictionary(uniqueKeysWithValues: leaves(try tree(b)).map { ($0.path, show($0.value)) })
        return Set(x.keys).union(y.keys).sorted().compactMap { k in
            x[k] == y[k] ? nil : "\(k): \(x[k] ?? "-") -> \(y[k] ?? "-")"
        }
    }

    static func value(_ tree: [String: Any], at path: [String]) -> Any? {
        guard let first = path.first else { return tree }
        guard let v = tree[first] else { return nil }
        if path.count == 1 { return v }
        return (v as? [String: Any]).flatMap { value($0, at: Array(path.dropFirst())) }
    }

    /// Sets a leaf, creating sections on the way.
    static func set(_ tree: inout [String: Any], at path: [String], to v: Any) {
        if path.count == 1 { tree[path[0]] = v; return }
        var sub = tree[path[0]] as? [String: Any] ?? [:]
        set(&sub, at: Array(path.dropFirst()), to: v)
        tree[path[0]] = sub
    }

    /// Throws unless `path` names a leaf field of `known`.
    static func checkPath(_ path: [String], in known: [String: Any]) throws {
        var section = known
        for (i, key) in path.enumerated() {
            let here = path[..<i].joined(separator: ".")
            guard let v = section[key] else {
                throw ConfigError("unknown config field '\(path.joined(separator: "."))'; valid fields"
                    + (here.isEmpty ? "" : " of \(here)") + ": \(section.keys.sorted().joined(separator: ", "))")
            }
            if i == path.count - 1 {
                if let sub = v as? [String: Any] {
                    throw ConfigError("config field '\(path.joined(separator: "."))' is a section: set one of its fields "
                        + "(\(sub.keys.sorted().map { "\(path.joined(separator: ".")).\($0)" }.joined(separator: ", ")))")
                }
            } else {
                guard let sub = v as? [String: Any] else {
                    throw ConfigError("unknown config field '\(path.joined(separator: "."))': '\(path[...i].joined(separator: "."))' is a value, not a section")
                }
                section = sub
            }
        }
    }

    /// Unknown keys anywhere in `given`, named by their dotted path with the valid fields of that section.
    static func checkKeys(_ given: [String: Any], against known: [String: Any], prefix: String) throws {
        for k in given.keys.sorted() {
            guard let d = known[k] else {
                throw ConfigError("unknown config field '\(prefix)\(k)'; valid fields"
                    + (prefix.isEmpty ? "" : " of \(prefix.dropLast())") + ": \(known.keys.sorted().joined(separator: ", "))")
            }
            if let sectionDefaults = d as? [String: Any] {
                guard let sub = given[k] as? [String: Any] else {
                    throw ConfigError("config field '\(prefix)\(k)' must be an object with fields "
                        + "\(sectionDefaults.keys.sorted().joined(separator: ", ")), got \(show(given[k]!))")
                }
                try checkKeys(sub, against: sectionDefaults, prefix: prefix + k + ".")
            }
        }
    }

    /// `over` on top of `base`, section by section.
    static func merge(_ base: [String: Any], _ over: [String: Any]) -> [String: Any] {
        var out = base
        for (k, v) in over {
            if let b = base[k] as? [String: Any], let o = v as? [String: Any] { out[k] = merge(b, o) } else { out[k] = v }
        }
        return out
    }

    /// A JSON value as a user wrote it: null, "text", 3, true.
    public static func show(_ v: Any) -> String {
        if v is NSNull { return "null" }
        if let s = v as? String { return "\"\(s)\"" }
        if let data = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys]) {
            return String(decoding: data, as: UTF8.self)
        }
        return "\(v)"
    }

    static func kind(_ type: Any.Type) -> String {
        switch type {
        case is Float.Type, is Double.Type: return "a number"
        case is Int.Type: return "an integer"
        case is UInt64.Type: return "a non-negative integer"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        default: return "a \(type)"
        }
    }
}
