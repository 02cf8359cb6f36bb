import Distributed
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
    var logprobSeconds = 0.0, updateSeconds = 0.0, allreduceSeconds = 0.0
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
        var part = RankPart()
        let active = members.filter { p.active[$0] }
        for (k, ids) in microBatches(active, p).enumerated() where k % cluster.size == cluster.rank {
            let t1 = Date()
            var batch = try pack(ids, p)
            part.importance.add(applyImportanceCorrection(&batch, config.correction))
            // Entropy and logit-gradient factors of the policy rows, from each chunk of logits as it passes.
            var entropy = (sum: 0.0, weight: 0.0), factors: [Float] = []
            let vocab = policy.config.vocab
            let logp = try forward(batch) { logits, rows in
                let mask = Array(batch.mask[rows]), targets = Array(batch.targets[rows])
                let e = try maskedEntropySum(logits: logits, rows: rows.count, vocab: vocab, mask: mask)
                entropy.sum += e.sum; entropy.weight += e.weight
                factors += try logitGradientFactors(logits: logits, rows: rows.count, vocab: vocab, targets: targets, mask: mask)
            }
            var (loss, stats, terms) = try policyLossWithTerms(logp, batch: batch, config: config.loss,
                                                               normalizer: normalizer)
            if let reference, config.kl.beta > 0 {
                let refLogp = try noGrad {
                    try reference.tokenLogProbs(tokens: batch.inputs, targets: batch.targets, layout: batch.attentionLayout,
                                                temperature: config.rollout.sampling.temperature)
                }
                let kl = try klPenalty(logp, refLogProbs: refLogp.array, mask: batch.mask,
                                       estimator: config.kl.estimator, normalizer: normalizer)
                loss = try add(loss, scale(kl, config.kl.beta))
            }
            r.logprobSeconds += Date().timeIntervalSince(t1)
            part.entropies.append(entropy.weight > 0 ? entropy.sum / entropy.weight : .nan)
            try part.attribution.add(factors: factors, terms: terms, batch: batch)
            try loss.backward()
            part.loss += Double(loss.item())
            part.lossStats.add(stats)
        }
        let t2 = Date()
        let all = try sumOverRanks(part)
        r.allreduceSeconds += Date().timeIntervalSince(t2)
        r.importance.add(all.importance)
        r.entropies += all.entropies
        r.lossStats.add(all.lossStats)
        let attribution = all.attribution, lossSum = all.loss
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

/// What one rank's micro-batches of a mini-batch add up to (its share of the update's statistics).
struct RankPart: Codable {
    var loss = 0.0
    var entropies: [Double] = []
    var lossStats = PolicyLossStats()
    var attribution = GradientAttribution()
    var importance = ImportanceStats()

    mutating func add(_ o: RankPart) {
        loss += o.loss; entropies += o.entropies
        lossStats.add(o.lossStats); attribution.add(o.attribution); importance.add(o.importance)
    }
}

extension GRPOTrainer {
    /// Sums the gradient arena over ranks (in rank order: every rank gets the same bits) and merges the
    /// ranks' statistics. One process: nothing to do.
    func sumOverRanks(_ part: RankPart) throws -> RankPart {
        guard cluster.size > 1 else { return part }
        try cluster.sumInRankOrder(policy.arena.grad, count: policy.arena.count)
        var all = RankPart()
        for data in try cluster.allGather(try RankMessage.encoder.encode(part)) {
            all.add(try RankMessage.decoder.decode(RankPart.self, from: data))
        }
        return all
    }
}
