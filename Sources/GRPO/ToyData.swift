import Model
import Rollout

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

    /// BOS + prompt + response + EOS token sequences.
    public func pretrainingDocuments(count: Int, heldOutCount: Int = 512) -> (train: [[Int32]], heldOut: [[Int32]]) {
        let corpus = PretrainingCorpus(world: world, seed: seed)
        let tok = ByteTokenizer()
        func encode(_ d: CorpusDocument) -> [Int32] { [ByteTokenizer.bos] + tok.encode(d.text) + [ByteTokenizer.eos] }
        let train = corpus.documents(count: count).map(encode)
        var rng = ToyRNG(seed: seed, stream: 99, index: 0)
        let heldOut = world.heldOutProblems(count: heldOutCount).map { p in
            encode(corpus.document(problem: p, style: .correctTool, rng: &rng))
        }
        return (train, heldOut)
    }
}
