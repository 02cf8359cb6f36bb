import Rollout

/// Counting drills for pretraining: "Count: 4817" then " 4818 4819 4820 4821\n".
///
/// In the toy corpus a digit's identity predicts nothing until the policy can copy numbers (operands,
/// results), so nothing keeps the ten digit embeddings apart and copying may never start (seen with some
/// seeds: the first and last digit of a number copied, the middle ones guessed). Counting gives every digit
/// a successor to predict and exercises exactly the copy the tasks need: a number repeated with a change at
/// its end. The start number is the prompt (unpredictable, no loss); the rest is the response.
public struct CountingDrill: Sendable, Equatable {
    public var prompt: String
    public var response: String

    /// Drill number `index`: a pure function of (seed, index). Starts have 2 to 5 digits; 4 to 8 numbers follow.
    public init(seed: UInt64, index: Int) {
        var rng = ToyRNG(seed: seed, stream: 7, index: UInt64(truncatingIfNeeded: index))
        let digits = rng.int(2...5)
        var n = rng.number(digits: digits)
        prompt = "Count: \(n)"
        var response = ""
        for _ in 0..<rng.int(4...8) { n += 1; response += " \(n)" }
        self.response = response + "\n"
    }
}
