import Rollout

// The toy world (docs/DESIGN.md): arithmetic a tiny policy cannot do in its head but can do with one or two
// short Python calls. Every task carries its reference solution (code + the exact stdout Python prints),
// computed here in Swift with overflow-checked Int64 arithmetic; a task whose numbers would overflow is
// redrawn, so no printed number is ever wrong.

/// The task families.
public enum ToyKind: String, CaseIterable, Codable, Sendable {
    /// "What is 4817*362-95?"                              print(4817*362-95)
    case productOffset = "product_offset"
    /// "What is 123*456*789?"                              print(123*456*789)
    case product3 = "product3"
    /// "What is 37^45 mod 1009?"                           print(pow(37,45,1009))
    case powMod = "pow_mod"
    /// "What is the sum of the integers from 12 to 345?"   print(sum(range(12,345+1)))
    case rangeSum = "range_sum"
    /// "What is 23 choose 5?"          needs import math:  import math / print(math.comb(23,5))
    case comb = "comb"
    /// "What is 15!/12!?"              print(15!/12!) is a SyntaxError; needs math.factorial
    case factorialRatio = "factorial_ratio"
    /// "Let x = 4817*362. What is x mod 97 plus the digit sum of x?"   two calls, the second uses x
    case twoStepDigits = "two_step_digits"
    /// "Let x be the sum of the integers from 12 to 345. What is x mod 97?"   two calls
    case twoStepRangeMod = "two_step_range_mod"

    public var steps: Int { self == .twoStepDigits || self == .twoStepRangeMod ? 2 : 1 }
}

/// One tool call of a reference solution: the code and exactly what Python prints for it (with "\n").
public struct ToolCall: Codable, Sendable, Equatable {
    public var code: String
    public var stdout: String
}

/// A generated problem: the task plus its structure and reference solution.
public struct ToyProblem: Sendable, Equatable {
    public var kind: ToyKind
    /// The numbers of the question, in the order the question names them (see `ToyWorld.question`).
    public var operands: [Int64]
    public var question: String
    public var answer: String
    public var solution: [ToolCall]

    public var task: MathTask {
        MathTask(id: "toy-" + String(fnv1a64(question), radix: 16), question: question, answer: answer,
                 kind: kind.rawValue, steps: solution.count)
    }
}

/// The seeded toy-world generator with disjoint train / held-out splits.
///
/// Split: a question is held out iff FNV-1a(question) % 10 == 0 (`isHeldOut`). The split is a function of the
/// question text alone, so no held-out question can appear in a training batch or in the pretraining corpus,
/// whatever the seeds. `difficulty` (1...4) scales operand sizes.
public struct ToyWorld: Sendable {
    public let seed: UInt64
    public let difficulty: Int
    public let kinds: [ToyKind]

    public init(seed: UInt64 = 0, difficulty: Int = 2, kinds: [ToyKind] = ToyKind.allCases) {
        precondition(!kinds.isEmpty, "ToyWorld needs at least one task kind")
        self.seed = seed
        self.difficulty = min(max(difficulty, 1), 4)
        self.kinds = kinds
    }

    public static func isHeldOut(question: String) -> Bool { fnv1a64(question) % 10 == 0 }

    // MARK: splits

    /// Train task number `index` (any index >= 0): a pure function of (seed, difficulty, kinds, index).
    public func trainProblem(at index: Int) -> ToyProblem {
        var rng = ToyRNG(seed: seed, stream: 1, index: UInt64(truncatingIfNeeded: index))
        return problem(heldOut: false, rng: &rng)
    }

    public func trainTask(at index: Int) -> MathTask { trainProblem(at: index).task }

    /// The training batch of step `step`: train tasks step*count ..< (step+1)*count.
    public func trainTasks(count: Int, step: Int = 0) -> [MathTask] {
        (0..<count).map { trainTask(at: step * count + $0) }
    }

    /// The first `count` held-out problems, all distinct; a prefix of a longer list (first K of N).
    /// Fewer only if the world has fewer distinct held-out questions (a single small kind at difficulty 1):
    /// the search gives up after 2000 draws in a row without a new question.
    public func heldOutProblems(count: Int) -> [ToyProblem] {
        var rng = ToyRNG(seed: seed, stream: 2, index: 0)
        var seen = Set<String>()
        var out: [ToyProblem] = []
        var misses = 0
        while out.count < count && misses < 2000 {
            let p = problem(heldOut: true, rng: &rng)
            if seen.insert(p.question).inserted { out.append(p); misses = 0 } else { misses += 1 }
        }
        return out
    }

    public func heldOutTasks(count: Int) -> [MathTask] { heldOutProblems(count: count).map(\.task) }

    /// The train split as an unbounded task source (use `batch(step:size:seed:)`).
    public var trainSource: ToyTrainSource { ToyTrainSource(world: self) }

    /// The first `count` held-out tasks as a finite task source.
    public func heldOutSource(count: Int) -> ArrayTaskSource { ArrayTaskSource(heldOutTasks(count: count)) }

    /// Draws problems from `rng` until one falls in the requested split (about 1 in 10 for held-out).
    public func problem(heldOut: Bool, rng: inout ToyRNG) -> ToyProblem {
        while true {
            let p = randomProblem(rng: &rng)
            if ToyWorld.isHeldOut(question: p.question) == heldOut { return p }
        }
    }

    // MARK: generation

    /// One problem of a random kind, either split.
    public func randomProblem(rng: inout ToyRNG) -> ToyProblem {
        while true {
            let kind = rng.pick(kinds)
            let ops = operands(kind, rng: &rng)
            if let solution = ToyWorld.solve(kind, ops) {
                let answer = String(solution[solution.count - 1].stdout.dropLast())   // the printed number
                return ToyProblem(kind: kind, operands: ops, question: ToyWorld.question(kind, ops),
                                  answer: answer, solution: solution)
            }
        }
    }

    private func operands(_ kind: ToyKind, rng: inout ToyRNG) -> [Int64] {
        let d = difficulty - 1   // 0...3
        func digits(_ lo: [Int], _ hi: [Int]) -> Int64 { rng.number(digits: rng.int(lo[d]...hi[d])) }
        func range(_ lo: [Int64], _ hi: [Int64]) -> Int64 { rng.int(lo[d]...hi[d]) }
        switch kind {
        case .productOffset:
            let a = digits([2, 3, 4, 4], [3, 4, 4, 5]), b = digits([2, 2, 3, 4], [2, 3, 4, 5])
            let c = digits([1, 1, 2, 2], [2, 3, 3, 4])
            return [a, b, c, rng.chance(0.5) ? -1 : 1]           // sign of c
        case .product3:
            return (0..<3).map { _ in digits([1, 2, 2, 3], [2, 2, 3, 3]) }
        case .powMod:
            return [range([2, 2, 2, 2], [20, 99, 999, 9999]), range([5, 10, 20, 50], [20, 60, 200, 999]),
                    range([10, 100, 1000, 10000], [99, 999, 9999, 99999])]
        case .rangeSum, .twoStepRangeMod:
            let a = range([1, 1, 1, 1], [20, 200, 2000, 20000])
            let b = a + range([10, 100, 1000, 10000], [99, 999, 9999, 99999])
            if kind == .rangeSum { return [a, b] }
            return [a, b, range([7, 11, 11, 101], [19, 99, 999, 9999])]
        case .comb:
            let n = range([8, 12, 20, 30], [15, 25, 35, 50])
            return [n, rng.int(2...min(n / 2, [4, 6, 10, 15][d]))]
        case .factorialRatio:
            let n = range([6, 10, 20, 40], [12, 25, 50, 99])
            return [n, n - range([2, 2, 3, 4], [3, 4, 5, 6])]
        case .twoStepDigits:
            let a = digits([2, 3, 4, 4], [3, 4, 4, 5]), b = digits([2, 2, 3, 4], [2, 3, 4, 5])
            return [a, b, range([7, 11, 11, 101], [19, 99, 999, 9999])]
        }
    }

    /// The question text of a problem (canonical: the split hash is taken of exactly this string).
    public static func question(_ kind: ToyKind, _ o: [Int64]) -> String {
        switch kind {
        case .productOffset: return "What is \(o[0])*\(o[1])\(o[3] < 0 ? "-" : "+")\(o[2])?"
        case .product3: return "What is \(o[0])*\(o[1])*\(o[2])?"
        case .powMod: return "What is \(o[0])^\(o[1]) mod \(o[2])?"
        case .rangeSum: return "What is the sum of the integers from \(o[0]) to \(o[1])?"
        case .comb: return "What is \(o[0]) choose \(o[1])?"
        case .factorialRatio: return "What is \(o[0])!/\(o[1])!?"
        case .twoStepDigits: return "Let x = \(o[0])*\(o[1]). What is x mod \(o[2]) plus the digit sum of x?"
        case .twoStepRangeMod: return "Let x be the sum of the integers from \(o[0]) to \(o[1]). What is x mod \(o[2])?"
        }
    }

    /// The reference tool calls for `operands`, with the exact stdout of each; nil if a number would not fit
    /// in Int64 or the operands are invalid (e.g. modulus < 2). For two-step kinds, `xLiteral` replaces the
    /// text of x that the second call copies (a sloppy copy in the corpus); its stdout is still exact.
    public static func solve(_ kind: ToyKind, _ o: [Int64], xLiteral: String? = nil) -> [ToolCall]? {
        // Python rejects integer literals with leading zeros ("x=0123" is a SyntaxError).
        if let x = xLiteral, x.isEmpty || (x.count > 1 && x.hasPrefix("0")) { return nil }
        func call(_ code: String, _ value: Int64?) -> ToolCall? { value.map { ToolCall(code: code, stdout: "\($0)\n") } }
        switch kind {
        case .productOffset:
            let v = mul(o[0], o[1]).flatMap { add($0, o[3] < 0 ? -o[2] : o[2]) }
            return call("print(\(o[0])*\(o[1])\(o[3] < 0 ? "-" : "+")\(o[2]))", v).map { [$0] }
        case .product3:
            return call("print(\(o[0])*\(o[1])*\(o[2]))", mul(o[0], o[1]).flatMap { mul($0, o[2]) }).map { [$0] }
        case .powMod:
            guard o[1] >= 0, o[2] >= 2 else { return nil }
            return call("print(pow(\(o[0]),\(o[1]),\(o[2])))", powMod(o[0], o[1], o[2])).map { [$0] }
        case .rangeSum:
            return call("print(sum(range(\(o[0]),\(o[1])+1)))", rangeSum(o[0], o[1])).map { [$0] }
        case .comb:
            guard o[0] >= 0, o[1] >= 0 else { return nil }
            return call("import math\nprint(math.comb(\(o[0]),\(o[1])))", comb(o[0], o[1])).map { [$0] }
        case .factorialRatio:
            guard o[0] >= 0, o[1] >= 0, o[1] <= o[0] else { return nil }
            return call("import math\nprint(math.factorial(\(o[0]))//math.factorial(\(o[1])))",
                        fallingProduct(o[0], o[1])).map { [$0] }
        case .twoStepDigits:
            guard o[2] >= 2, let first = call("print(\(o[0])*\(o[1]))", mul(o[0], o[1])) else { return nil }
            let xText = xLiteral ?? String(first.stdout.dropLast())
            guard let x = Int64(xText), x >= 0 else { return nil }
            let second = call("x=\(xText)\nprint(x%\(o[2])+sum(map(int,str(x))))", add(x % o[2], digitSum(x)))
            return second.map { [first, $0] }
        case .twoStepRangeMod:
            guard o[2] >= 2, let first = call("print(sum(range(\(o[0]),\(o[1])+1)))", rangeSum(o[0], o[1])) else { return nil }
            let xText = xLiteral ?? String(first.stdout.dropLast())
            guard let x = Int64(xText) else { return nil }
            return call("print(\(xText)%\(o[2]))", pyMod(x, o[2])).map { [first, $0] }
        }
    }
}

/// The toy world's train split as an unbounded `TaskSource` (count nil; any index >= 0).
public struct ToyTrainSource: TaskSource, Sendable {
    public var world: ToyWorld
    public var count: Int? { nil }
    public func task(at index: Int) -> MathTask { world.trainTask(at: index) }
}

// MARK: - Exact integer arithmetic (nil on overflow, as Python would print a number we cannot hold)

private func mul(_ a: Int64, _ b: Int64) -> Int64? {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    return o ? nil : r
}

private func add(_ a: Int64, _ b: Int64) -> Int64? {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? nil : r
}

/// Python's % (the result has the sign of the divisor).
private func pyMod(_ a: Int64, _ m: Int64) -> Int64 {
    let r = a % m
    return (r != 0 && (r < 0) != (m < 0)) ? r + m : r
}

/// pow(a, e, m) for m in 2..<2^31.
private func powMod(_ a: Int64, _ e: Int64, _ m: Int64) -> Int64? {
    guard m >= 2, m < (1 << 31), e >= 0 else { return nil }
    var result: Int64 = 1 % m, base = pyMod(a, m), e = e
    while e > 0 {
        if e & 1 == 1 { result = result * base % m }
        base = base * base % m
        e >>= 1
    }
    return result
}

/// sum(range(a, b+1)) = (a+b)(b-a+1)/2; 0 for an empty range.
private func rangeSum(_ a: Int64, _ b: Int64) -> Int64? {
    if b < a { return 0 }
    guard let s = add(a, b), let n = add(b - a, 1) else { return nil }
    return s % 2 == 0 ? mul(s / 2, n) : mul(s, n / 2)   // one of them is even
}

/// math.comb(n, k); 0 when k > n. Step i: c = c*(n-i)/(i+1), exact; with g = gcd(c, i+1), (i+1)/g divides
/// (n-i), so c/g * ((n-i)/((i+1)/g)) gives the same number without the large intermediate product.
private func comb(_ n: Int64, _ k: Int64) -> Int64? {
    if k > n { return 0 }
    var c: Int64 = 1
    for i in 0..<min(k, n - k) {
        let g = gcd(c, i + 1)
        guard let next = mul(c / g, (n - i) / ((i + 1) / g)) else { return nil }
        c = next
    }
    return c
}

private func gcd(_ a: Int64, _ b: Int64) -> Int64 {
    var (a, b) = (abs(a), abs(b))
    while b != 0 { (a, b) = (b, a % b) }
    return max(a, 1)
}

/// n!/m! = (m+1)(m+2)...n for m <= n.
private func fallingProduct(_ n: Int64, _ m: Int64) -> Int64? {
    var p: Int64 = 1
    var i = m + 1
    while i <= n {
        guard let q = mul(p, i) else { return nil }
        p = q
        i += 1
    }
    return p
}

private func digitSum(_ x: Int64) -> Int64 {
    var x = x.magnitude, s: Int64 = 0
    while x > 0 { s += Int64(x % 10); x /= 10 }
    return s
}
