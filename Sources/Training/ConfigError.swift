/// A training or experiment setting that cannot work, or a checkpoint that belongs to another run.
/// The message names the setting and what to change.
public struct ConfigError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
