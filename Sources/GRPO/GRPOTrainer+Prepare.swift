import Foundation
import Rollout
import Tensor

/// 2. Prepare: what the updates of one step need, computed once.
struct PreparedBatch {
    var trajectories: [Trajectory]
    var advantages: [Float]
    /// Loss mask of each trajectory, aligned with its tokens.
    var masks: [[Float]]
    var droppedVoid = 0, droppedTruncated = 0
    /// Trajectories the updates forward (the others cannot contribute gradient).
    var active: [Bool]
    /// Old log-probs of each trajectory, aligned with its tokens: the behaviour log-probs, or recomputed.
    var oldLogProbs: [[Float]]
    /// Sampler/trainer mismatch over the loss rows of the recomputed trajectories.
    var mismatch = ProbabilityMismatch()
    var recomputeSeconds = 0.0
}

extension GRPOTrainer {
    /// Advantages over ALL trajectories (filtered ones still count in their group's statistics), filters,
    /// loss masks, and with `recomputeOldLogProbs` the old log-probs of the active trajectories from one
    /// no-grad forward of the policy as it is before the first update.
    func prepare(_ trajectories: [Trajectory]) throws -> PreparedBatch {
        let advantages = try groupAdvantages(rewards: trajectories.map(\.reward), groupSize: config.groupSize,
                                             estimator: config.advantage)
        let filter = TrajectoryFilter(voidTurns: config.filter.voidTurns, truncated: config.filter.truncated)
        let filtered = applyFilters(trajectories, filter)
        let masks = try trajectories.indices.map {
            try lossMask(trajectories[$0], keep: filtered.keep[$0], maskToolTokens: config.filter.maskToolTokens)
        }
        // A member without gradient (fully masked, or advantage 0 without a KL term) need not be forwarded:
        // the update is the same, the work less.
        let active = trajectories.indices.map { i in
            !config.skipZeroAdvantage || config.kl.beta > 0 || (advantages[i] != 0 && masks[i].contains { $0 != 0 })
        }
        var p = PreparedBatch(trajectories: trajectories, advantages: advantages, masks: masks,
                              droppedVoid: filtered.droppedVoid, droppedTruncated: filtered.droppedTruncated,
                              active: active, oldLogProbs: trajectories.map(\.samplingLogProbs))
        if config.correction.recomputeOldLogProbs { try recomputeOldLogProbs(&p) }
        return p
    }

    /// verl's old log-prob pass: the trainer's log-prob of every token of the active trajectories (no grad).
    func recomputeOldLogProbs(_ p: inout PreparedBatch) throws {
        let t0 = Date()
        for ids in microBatches(p.trajectories.indices.filter { p.active[$0] }, p) {
            let b = try pack(ids, p)
            let lp = try noGrad { try forward(b) }.array
            p.mismatch.add(rollout: b.behaviourLogProbs, trainer: lp, mask: b.mask)
            for (k, i) in ids.enumerated() {
                let rows = b.sequences[k]
                for j in 0..<(p.trajectories[i].tokens.count - 1) { p.oldLogProbs[i][j + 1] = lp[rows.lowerBound + j] }
            }
        }
        p.recomputeSeconds = Date().timeIntervalSince(t0)
    }

    /// `ids` sorted by length (longest first, ties by index) and cut into micro-batches of at most `microBatch`
    /// sequences and, with a token cap (`microBatchTokens`, or sized by `memoryBudgetGB`), at most that many
    /// padded tokens (rows x the longest) each:
    /// sequences of similar length share a forward, so little of it is padding, and the token cap bounds the
    /// activations. The longest come first, so a batch that does not fit fails on its first micro-batch.
    func microBatches(_ ids: [Int], _ p: PreparedBatch) -> [[Int]] {
        let length = { (i: Int) in p.trajectories[i].tokens.count }
        var out: [[Int]] = [], current: [Int] = []
        for i in ids.sorted(by: { (length($0), $1) > (length($1), $0) }) {
            let width = current.first.map(length) ?? length(i)
            let full = current.count == config.microBatch
                || (microBatchTokenCap > 0 && (current.count + 1) * width > microBatchTokenCap)
            if full && !current.isEmpty { out.append(current); current = [] }
            current.append(i)
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// A right-padded micro-batch of trajectories `ids` (one row of the forward each), with their old log-probs.
    func pack(_ ids: [Int], _ p: PreparedBatch) throws -> PolicyLossBatch {
        let width = max(1, ids.map { p.trajectories[$0].tokens.count - 1 }.max() ?? 1)
        var b = PolicyLossBatch()
        for i in ids {
            try b.append(p.trajectories[i], tokenMask: p.masks[i], advantage: p.advantages[i],
                         oldLogProbs: p.oldLogProbs[i], rows: width)
        }
        return b
    }
}
