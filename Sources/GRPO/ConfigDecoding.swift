import Foundation

/// A coding key for any string: lets a config's `init(from:)` list the keys it was given.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Throws a DecodingError naming the unknown keys of a config section, so a typo is an error and not a
/// silently ignored field. Missing keys keep their defaults (each config decodes with decodeIfPresent).
func rejectUnknownKeys(_ decoder: Decoder, allowed: [String], section: String) throws {
    let c = try decoder.container(keyedBy: AnyCodingKey.self)
    let unknown = c.allKeys.map(\.stringValue).filter { !allowed.contains($0) }.sorted()
    if !unknown.isEmpty {
        throw DecodingError.dataCorrupted(.init(
            codingPath: decoder.codingPath,
            debugDescription: "\(section): unknown field(s) \(unknown.joined(separator: ", ")); "
                + "known fields: \(allowed.sorted().joined(separator: ", "))"))
    }
}
