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
                for j in 0..<(p.trajectories[i].tokens.count - 1) { p.oldLogProbs[i][j + 1] = lp[b.row(sequence: k, predicting: j)] }
            }
        }
        p.recomputeSeconds = Date().timeIntervalSince(t0)
    }

    /// `ids` cut into micro-batches of at most `microBatch` sequences and, with a token cap (`microBatchTokens`,
    /// or sized by `memoryBudgetGB`), at most that many forward rows each. The members of a group (the samples
    /// of one prompt) go together as far as the caps allow, so that `pack` computes the prompt they share once:
    /// its rows count once. Groups and their members go longest first (ties by index), so sequences of similar
    /// length share a forward and a batch that does not fit fails on its first micro-batch.
    func microBatches(_ ids: [Int], _ p: PreparedBatch) -> [[Int]] {
        let length = { (i: Int) in p.trajectories[i].tokens.count }
        let groups = Dictionary(grouping: ids) { p.trajectories[$0].group }.values
            .map { $0.sorted { (length($0), $1) > (length($1), $0) } }
            .sorted { (length($0[0]), $1[0]) > (length($1[0]), $0[0]) }
        // Forward rows of one group's members sharing `shared` rows.
        func rows(_ run: [Int], shared: Int) -> Int { run.reduce(shared) { $0 + length($1) - 1 - shared } }
        var out: [[Int]] = [], current: [Int] = [], closedRows = 0
        for members in groups {
            var run: [Int] = [], shared = 0
            for i in members {
                var s = run.isEmpty ? 0 : min(run.count == 1 ? Int.max : shared, sharedRows(run[0], i, p))
                let full = current.count == config.microBatch
                    || (microBatchTokenCap > 0 && closedRows + rows(run + [i], shared: s) > microBatchTokenCap)
                if full && !current.isEmpty {
                    out.append(current)
                    current = []; closedRows = 0; run = []; s = 0
                }
                current.append(i); run.append(i); shared = s
            }
            closedRows += rows(run, shared: shared)
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// Rows trajectories a and b can share (see `PolicyLossBatch.sharedPrefixRows`).
    func sharedRows(_ a: Int, _ b: Int, _ p: PreparedBatch) -> Int {
        PolicyLossBatch.sharedPrefixRows([a, b].map { (p.trajectories[$0].tokens, p.masks[$0]) })
    }

    /// A micro-batch of trajectories `ids`, with their old log-probs, packed without padding: each run of
    /// members of one group computes their shared prompt once (`PolicyLossBatch.appendSharingPrefix`).
    /// Sequence k of the batch is ids[k].
    func pack(_ ids: [Int], _ p: PreparedBatch) throws -> PolicyLossBatch {
        var b = PolicyLossBatch()
        var start = 0
        while start < ids.count {
            var end = start + 1
            while end < ids.count && p.trajectories[ids[end]].group == p.trajectories[ids[start]].group { end += 1 }
            let run = Array(ids[start..<end])
            let shared = run.count > 1
                ? PolicyLossBatch.sharedPrefixRows(run.map { (p.trajectories[$0].tokens, p.masks[$0]) }) : 0
            try b.appendSharingPrefix(run.map { (p.trajectories[$0], p.masks[$0], p.advantages[$0], p.oldLogProbs[$0]) },
                                      shared: shared)
            start = end
        }
        return b
    }
}
