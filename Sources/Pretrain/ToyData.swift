import Model
import Rollout
import ToyWorld

/// The toy world as the commands use it: held-out tasks for evaluation, the train split for GRPO, and the
/// tokenized pretraining corpus (train documents, plus documents built from held-out problems for the
/// held-out loss). One seed and difficulty fix all of it.
public struct ToyData {
    public let world: ToyWorld
    public let seed: UInt64

    public init(seed: UInt64, difficulty: Int = 2) {
        self.seed = seed
        world = ToyWorld(seed: seed, difficulty: difficulty)
    }

    public func heldOutTasks(count: Int) -> [MathTask] { world.heldOutTasks(count: count) }

    public var trainTasks: TaskSource { world.trainSource }

    /// BOS + prompt + response + EOS token sequences; the loss covers what the policy writes itself.
    /// `drillFraction` of the train documents are counting drills (`CountingDrill`) instead of episodes.
    public func pretrainingDocuments(count: Int, heldOutCount: Int = 512,
                                     drillFraction: Double = 0) -> (train: [TrainingDocument], heldOut: [TrainingDocument]) {
        let corpus = PretrainingCorpus(world: world, seed: seed)
        let tok = ByteTokenizer()
        let format = corpus.format
        // BOS + prompt + response + EOS; the loss covers the response and EOS.
        func document(prompt: String, response: String) -> (TrainingDocument, responseStart: Int, response: [Int32]) {
            let p = tok.encode(prompt), r = tok.encode(response)
            let mask = [Float](repeating: 0, count: 1 + p.count) + [Float](repeating: 1, count: r.count + 1)
            return (TrainingDocument(tokens: [ByteTokenizer.bos] + p + r + [ByteTokenizer.eos], lossMask: mask), 1 + p.count, r)
        }
        func encode(_ d: CorpusDocument) -> TrainingDocument {
            var (doc, start, response) = document(prompt: d.prompt, response: d.response)
            // Output blocks are the interpreter's words: never a target.
            let open = tok.encode(format.outputMarker + "\n"), close = tok.encode("\n```\n")
            var i = 0
            while let s = find(open, in: response, from: i) {
                let e = find(close, in: response, from: s + open.count).map { $0 + close.count } ?? response.count
                for j in s..<e { doc.lossMask[start + j] = 0 }
                i = e
            }
            return doc
        }
        let drills = Int((Double(count) * min(max(drillFraction, 0), 1)).rounded())
        let train = corpus.documents(count: count - drills).map(encode) + (0..<drills).map { i in
            let d = CountingDrill(seed: seed, index: i)
            return document(prompt: d.prompt, response: d.response).0
        }
        var rng = ToyRNG(seed: seed, stream: 99, index: 0)
        let heldOut = world.heldOutProblems(count: heldOutCount).map { p in
            encode(corpus.document(problem: p, style: .correctTool, rng: &rng))
        }
        return (train, heldOut)
    }
}

/// First index >= from where `needle` occurs in `haystack`.
func find(_ needle: [Int32], in haystack: [Int32], from: Int) -> Int? {
    guard !needle.isEmpty, haystack.count >= needle.count, from <= haystack.count - needle.count else { return nil }
    for i in from...(haystack.count - needle.count) where haystack[i] == needle[0] {
        if haystack[i ..< i + needle.count].elementsEqual(needle) { return i }
    }
    return nil
}
