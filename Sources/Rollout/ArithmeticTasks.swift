/// Built-in tasks for real models: natural-language arithmetic where the interpreter helps (a small model
/// cannot multiply 4817 by 9283 in its head, but `print(4817 * 9283)` is one line). Five families:
///
///     product      "What is 4817 multiplied by 9283?"
///     series       "What is the sum of all whole numbers from 138 to 4271?" / "... of the squares of ..."
///     modular      "What is the remainder when 8316459 is divided by 73?"
///     units        "How many seconds are there in 17 days, 5 hours and 42 minutes?"
///     chain        "A warehouse has 348 crates with 27 bottles in each. 1209 bottles are shipped. How many ...?"
///
/// Difficulty 1...4 sets the operand sizes. Every answer is an integer. A task is a pure function of
/// (seed, index); a question belongs to the held-out split when its hash says so (1 in `heldOutEvery`), and
/// the train stream never yields a held-out question, so the splits are disjoint by construction.
public struct ArithmeticTasks: Sendable {
    public var seed: UInt64
    public var difficulty: Int
    public static let heldOutEvery: UInt64 = 8
    public static let families = ["product", "series", "modular", "units", "chain"]

    public init(seed: UInt64, difficulty: Int) {
        self.seed = seed
        self.difficulty = min(4, max(1, difficulty))
    }

    /// The unbounded train stream.
    public var train: TaskSource { Stream(tasks: self, heldOut: false) }

    /// The first `count` held-out tasks.
    public func heldOut(count: Int) -> [MathTask] { (0..<count).map { task(at: $0, heldOut: true) } }

    public static func isHeldOut(_ question: String) -> Bool { fnv1a64(question) % heldOutEvery == 0 }

    /// Task `index` of a split: candidates are drawn from one stream per (split, index) until one falls in
    /// the split.
    public func task(at index: Int, heldOut: Bool) -> MathTask {
        var rng = ToyRNG(seed: seed, stream: heldOut ? 0x6865_6c64 : 0x7472_6169_6e, index: UInt64(index))
        while true {
            let family = rng.pick(Self.families)
            let (question, answer) = make(family, &rng)
            if Self.isHeldOut(question) == heldOut {
                return MathTask(id: "\(heldOut ? "heldout" : "train")-\(index)", question: question, answer: String(answer),
                                kind: family, steps: 1)
            }
        }
    }

    struct Stream: TaskSource {
        let tasks: ArithmeticTasks
        let heldOut: Bool
        var count: Int? { nil }
        func task(at index: Int) -> MathTask { tasks.task(at: index, heldOut: heldOut) }
    }

    /// One question of `family` and its answer.
    func make(_ family: String, _ rng: inout ToyRNG) -> (String, Int64) {
        let d = difficulty
        switch family {
        case "product":
            // digits: 3x2, 3x3, 4x3, 4x4
            let a = rng.number(digits: d <= 2 ? 3 : 4), b = rng.number(digits: [2, 3, 3, 4][d - 1])
            return (rng.pick(["What is \(a) multiplied by \(b)?", "Compute the product of \(a) and \(b).",
                              "What is \(a) times \(b)?"]), a * b)
        case "series":
            let hi = rng.int(Int64(20 * pow10(d - 1))...Int64(90 * pow10(d - 1)))
            if rng.chance(0.5) {
                let lo = rng.int(2...(hi / 2))
                return ("What is the sum of all whole numbers from \(lo) to \(hi)?", (lo + hi) * (hi - lo + 1) / 2)
            }
            let n = min(hi, 300 * Int64(d))
            return ("What is the sum of the squares of the whole numbers from 1 to \(n)?", n * (n + 1) * (2 * n + 1) / 6)
        case "modular":
            let m = rng.int(Int64(11)...Int64(97 * d))
            if rng.chance(0.5) {
                let n = rng.number(digits: 4 + d)
                return ("What is the remainder when \(n) is divided by \(m)?", n % m)
            }
            let base = rng.int(Int64(2)...Int64(19)), exponent = rng.int(Int64(10)...Int64(20 * d))
            var r: Int64 = 1
            for _ in 0..<exponent { r = r * base % m }
            return ("What is the remainder when \(base) to the power of \(exponent) is divided by \(m)?", r)
        case "units":
            let days = rng.int(Int64(2)...Int64(9 * d)), hours = rng.int(Int64(1)...Int64(23)), minutes = rng.int(Int64(1)...Int64(59))
            if rng.chance(0.5) {
                return ("How many seconds are there in \(days) days, \(hours) hours and \(minutes) minutes?",
                        ((days * 24 + hours) * 60 + minutes) * 60)
            }
            let km = rng.int(Int64(2)...Int64(40 * d)), m = rng.int(Int64(10)...Int64(999))
            return ("How many centimeters are there in \(km) kilometers and \(m) meters?", (km * 1000 + m) * 100)
        default:   // chain
            let crates = rng.number(digits: d <= 2 ? 2 : 3), each = rng.number(digits: d <= 3 ? 2 : 3)
            let total = crates * each
            if rng.chance(0.5) {
                let shipped = rng.int(Int64(1)...(total - 1))
                return ("A warehouse has \(crates) crates with \(each) bottles in each. \(shipped) bottles are shipped out. "
                        + "How many bottles are left in the warehouse?", total - shipped)
            }
            let price = rng.int(Int64(3)...Int64(9 * d + 9))
            return ("A school orders \(crates) boxes of \(each) pencils. Each pencil costs \(price) cents. "
                    + "How many cents does the school pay in total?", total * price)
        }
    }
}
