import Foundation

/// A seeded, fast, reproducible random generator: xoshiro256** (Blackman & Vigna) with its 256-bit state
/// expanded from a 64-bit seed by splitmix64. The same seed gives the same stream on every machine, and
/// `state` / `init(state:)` save and restore it exactly (for resume). Not cryptographic.
public struct RNG {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
    }

    /// The four state words, for checkpoints.
    public var state: [UInt64] { [s0, s1, s2, s3] }

    /// Restores a generator saved with `state`; it continues exactly where the saved one stood.
    public init(state: [UInt64]) throws {
        guard state.count == 4 else { throw TensorError("RNG(state:) needs 4 words, got \(state.count)") }
        guard state.contains(where: { $0 != 0 }) else { throw TensorError("RNG(state:): the all-zero state is invalid") }
        s0 = state[0]; s1 = state[1]; s2 = state[2]; s3 = state[3]
    }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 random bits (every value is an exact Float).
    @inline(__always)
    public mutating func uniform() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniformDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Uniform integer in `range`, without modulo bias (Lemire's multiply-and-reject). Traps on an empty range,
    /// like Int.random(in:).
    public mutating func int(_ range: Range<Int>) -> Int {
        precondition(!range.isEmpty, "RNG.int: empty range \(range)")
        let n = UInt64(bitPattern: Int64(range.upperBound)) &- UInt64(bitPattern: Int64(range.lowerBound))
        var m = next().multipliedFullWidth(by: n)
        if m.low < n {
            let threshold = (0 &- n) % n     // 2^64 mod n: low parts below it would over-represent some values
            while m.low < threshold { m = next().multipliedFullWidth(by: n) }
        }
        return range.lowerBound &+ Int(truncatingIfNeeded: m.high)
    }

    /// Standard normal sample (Box-Muller in Double; one sample per call, so the state is all there is).
    public mutating func normal() -> Float {
        let u1 = 1 - uniformDouble()          // (0, 1]: log is finite
        let u2 = uniformDouble()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// An index drawn with probability proportional to `probs[i]` (need not sum to 1). Non-finite and
    /// negative weights count as 0. Traps if no weight is positive: there is nothing to sample.
    public mutating func categorical(_ probs: UnsafeBufferPointer<Float>) -> Int {
        var total = 0.0
        var last = -1
        for (i, p) in probs.enumerated() where p > 0 && p.isFinite { total += Double(p); last = i }
        precondition(last >= 0, "RNG.categorical: no positive finite weight among \(probs.count)")
        let u = uniformDouble() * total
        var c = 0.0
        for i in 0..<last {
            let p = probs[i]
            guard p > 0 && p.isFinite else { continue }
            c += Double(p)
            if u < c { return i }
        }
        return last   // also catches u landing past the rounded cumulative sum
    }

    /// Fisher-Yates shuffle in place.
    public mutating func shuffle<T>(_ a: inout [T]) {
        if a.count < 2 { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = int(0..<(i + 1))
            if i != j { a.swapAt(i, j) }
        }
    }

    /// An independent child stream, seeded from this stream's next output (which advances this one).
    /// Use one child per worker or per purpose (data order, sampling) so they stay reproducible apart.
    public mutating func split() -> RNG {
        RNG(seed: next() ^ 0x6A09_E667_F3BC_C908)
    }
}
