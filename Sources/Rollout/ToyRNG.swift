/// A tiny seeded generator (SplitMix64) for task batches, the toy world and the corpus. Written out here,
/// instead of using `Int.random(in:using:)`, so the task stream is identical across runs, machines and Swift
/// versions.
public struct ToyRNG: Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one item of a stream: the same (seed, stream, index) always gives the same generator.
    public init(seed: UInt64, stream: UInt64, index: UInt64) {
        state = ToyRNG.mix(ToyRNG.mix(seed ^ 0x5157_4952_5449_5357, stream), index)
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform integer in `range` (modulo bias below 2^-40 for the small spans used here).
    public mutating func int(_ range: ClosedRange<Int64>) -> Int64 {
        let span = UInt64(range.upperBound - range.lowerBound) &+ 1
        if span == 0 { return Int64(bitPattern: next()) }   // the full 64-bit range
        return range.lowerBound + Int64(next() % span)
    }

    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        Int(int(Int64(range.lowerBound)...Int64(range.upperBound)))
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    public mutating func chance(_ p: Double) -> Bool { uniform() < p }

    public mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    /// A uniform number with exactly `digits` decimal digits (no leading zero, never 0), digits in 1...18.
    public mutating func number(digits: Int) -> Int64 {
        int(pow10(digits - 1)...(pow10(digits) - 1))
    }

    /// SplitMix64 finalizer of a combined pair: a cheap, well-mixed hash of two words.
    public static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var z = a ^ (b &* 0x9E37_79B9_7F4A_7C15) ^ (b >> 29)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func pow10(_ n: Int) -> Int64 {
    var p: Int64 = 1
    for _ in 0..<n { p *= 10 }
    return p
}
