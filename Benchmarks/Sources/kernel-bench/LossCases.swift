import Tensor

/// Fused log-softmax + target gather (the cross-entropy / policy log-prob kernel) at the LM head's shape.
func logProbCases(rows: Int, vocab: Int) -> [BenchCase] {
    let shape = "logits[\(rows),\(vocab)]"
    let bytes = Double(rows * vocab * 4)
    let note = "gatherLogProbs GB/s counts 4·N·V bytes per pass over the logits: fwd 1 pass, fwd+bwd 4 (read x; read x, read+write dx)"
    func setup(_ seed: UInt64) -> (Tensor, [Int32], [Float]) {
        var rng = RNG(seed: seed)
        let logits = randomTensor([rows, vocab], &rng, requiresGrad: true)
        for i in 0..<logits.count { logits.data[i] *= 3 }
        let targets = (0..<rows).map { _ in Int32(rng.int(0..<vocab)) }
        return (logits, targets, [Float](repeating: -1 / Float(rows), count: rows))   // d(mean NLL)/d logp
    }
    return [
        BenchCase(op: "gatherLogProbs fwd", shape: shape, work: .bytes(bytes), note: note) {
            let (logits, targets, _) = setup(3)
            return (run: { _ = try noGrad { try gatherLogProbs(logits, targets: targets) } }, baseline: nil)
        },
        BenchCase(op: "gatherLogProbs fwd+bwd", shape: shape, work: .bytes(4 * bytes), note: note) {
            let (logits, targets, seed) = setup(4)
            return (run: { try gatherLogProbs(logits, targets: targets).backward(seed: seed) }, baseline: nil)
        },
    ]
}
