import Foundation
import Rollout
import Tensor

/// 3. Update: what the optimizer updates of one step measured.
struct UpdateResult {
    var gradNorms: [Double] = [], logitGradNorms: [Double] = [], losses: [Double] = [], entropies: [Double] = []
    var lossStats = PolicyLossStats()
    var attribution = GradientAttribution()
    var importance = ImportanceStats()
    var skipped = 0, computedSequences = 0
    var logprobSeconds = 0.0, updateSeconds = 0.0
}

extension GRPOTrainer {
    /// ppoEpochs passes, each over a fresh shuffle split into M mini-batches, one optimizer update each.
    func update(_ p: PreparedBatch) throws -> UpdateResult {
        var r = UpdateResult()
        for _ in 0..<config.ppoEpochs {
            var order = Array(p.trajectories.indices)
            rng.shuffle(&order)
            let miniSize = (order.count + config.miniBatches - 1) / config.miniBatches
            for mb in stride(from: 0, to: order.count, by: miniSize) {
                try updateMiniBatch(Array(order[mb ..< min(order.count, mb + miniSize)]), p, &r)
            }
        }
        r.updateSeconds -= r.logprobSeconds
        return r
    }

    /// One optimizer update over `members`: micro-batched forward/backward of the active ones, the clipped
    /// surrogate normalized over every member, the gradient attribution, clip and AdamW.
    func updateMiniBatch(_ members: [Int], _ p: PreparedBatch, _ r: inout UpdateResult) throws {
        let t0 = Date()
        // The normalizer counts every member; only the active ones are forwarded.
        let normalizer = try lossNormalizer(config.loss, batches: try members.map { i in
            var b = PolicyLossBatch()
            try b.append(p.trajectories[i], tokenMask: p.masks[i], advantage: p.advantages[i])
            return b
        })
        optimizer.lr = config.optimizer.schedule.lr(step: optimizer.step, total: config.steps * config.miniBatches * config.ppoEpochs,
                                            peak: config.optimizer.lr, warmup: config.optimizer.warmupSteps)
        policy.arena.zeroGrad()
        var lossSum = 0.0
        var attribution = GradientAttribution()
        let active = members.filter { p.active[$0] }
        for ids in microBatches(active) {
            let t1 = Date()
            var batch = try pack(ids, p)
            r.importance.add(applyImportanceCorrection(&batch, config.correction))
            let (logits, logp) = try forward(batch)
            var (loss, stats, terms) = try policyLossWithTerms(logp, batch: batch, config: config.loss,
                                                               normalizer: normalizer)
            if let reference, config.kl.beta > 0 {
                let refLogp = try noGrad {
                    try reference.tokenLogProbs(tokens: batch.inputs, targets: batch.targets, batch: ids.count,
                                                seqLen: batch.sequences[0].count, temperature: config.rollout.sampling.temperature)
                }
                let kl = try klPenalty(logp, refLogProbs: refLogp.array, mask: batch.mask,
                                       estimator: config.kl.estimator, normalizer: normalizer)
                loss = try add(loss, scale(kl, config.kl.beta))
            }
            r.logprobSeconds += Date().timeIntervalSince(t1)
            let rows = logits.shape[0], vocab = logits.shape[1]
            r.entropies.append(try maskedEntropy(logits: logits.data, rows: rows, vocab: vocab, mask: batch.mask))
            try attribution.add(factors: try logitGradientFactors(logits: logits.data, rows: rows, vocab: vocab,
                                                                  targets: batch.targets, mask: batch.mask),
                                terms: terms, batch: batch)
            try loss.backward()
            lossSum += Double(loss.item())
            r.lossStats.add(stats)
        }
        let (norm, applied) = optimizer.clipAndUpdate(maxNorm: config.optimizer.gradClip)
        r.gradNorms.append(Double(norm))
        r.logitGradNorms.append(attribution.total.squareRoot())
        r.attribution.add(attribution)
        r.computedSequences += active.count
        r.losses.append(lossSum)
        if !applied { r.skipped += 1 }   // a non-finite gradient never reaches the weights
        r.updateSeconds += Date().timeIntervalSince(t0)
    }
}
