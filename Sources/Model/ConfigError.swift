/// A setting that cannot work (a config field out of range, a run that belongs to other settings, a bad
/// command-line value). The message names the setting and what to change.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Range checks that name the field by its dotted path, so every config section's `validate()` reports the
/// same way: "rollout.maxTurnTokens must be in 1...65536, got 0".
public struct FieldCheck: Sendable {
    /// "" for top-level fields, "rollout." inside the rollout section, ...
    public let prefix: String

    public init(_ section: String = "") { prefix = section.isEmpty ? "" : section + "." }

    /// The checker of a nested section.
    public func section(_ name: String) -> FieldCheck { FieldCheck(prefix + name) }

    public func path(_ field: String) -> String { prefix + field }

    public func require(_ ok: Bool, _ field: String, _ allowed: String, got value: Any) throws {
        if !ok { throw ConfigError("\(prefix)\(field) must be \(allowed), got \(value)") }
    }

    public func int(_ field: String, _ value: Int, _ range: ClosedRange<Int>) throws {
        try require(range.contains(value), field, "in \(range.lowerBound)...\(range.upperBound)", got: value)
    }

    /// A finite number in `range`; `openLow` excludes the lower bound ("in (0, 1]").
    public func number<F: BinaryFloatingPoint>(_ field: String, _ value: F, _ range: ClosedRange<F>,
                                               openLow: Bool = false) throws {
        let ok = value.isFinite && range.contains(value) && !(openLow && value == range.lowerBound)
        let allowed = (openLow ? "(" : "[") + "\(range.lowerBound), \(range.upperBound)]"
        try require(ok, field, "a number in \(allowed)", got: value)
    }
}
