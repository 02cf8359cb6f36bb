import XCTest
import Tensor
@testable import Model

/// A tiny but complete config: 2 layers, 2 heads of size 8, odd FFN size.
let tinyConfig = PolicyConfig(dim: 16, layers: 2, heads: 2, ffn: 20, context: 32)

/// Every architecture feature at once: grouped-query attention (4 query heads on 2 KV heads), a head size
/// that is not dim / heads, q/k/v biases, an untied head and Llama-3 rope scaling.
let tinyGQAConfig = PolicyConfig(architecture: "qwen2", dim: 16, layers: 2, heads: 4, kvHeads: 2, headSize: 6, ffn: 20,
                                 context: 32, tiedHead: false, qkvBias: true,
                                 ropeScaling: RopeScaling(factor: 4, lowFreqFactor: 1, highFreqFactor: 2, originalContext: 8))

/// A seeded policy; biases (zero at init) get random values so that they matter.
func seededPolicy(_ config: PolicyConfig, seed: UInt64) throws -> Policy {
    let p = try Policy(config: config, seed: seed)
    var rng = RNG(seed: seed + 100)
    for e in p.arena.entries where e.name.hasSuffix(".bias") { try p.arena.fillNormal(e.name, std: 0.5, rng: &rng) }
    return p
}

final class TokenizerTests: XCTestCase {
    func testRoundTripAnyUTF8() {
        let tok = ByteTokenizer()
        for s in ["", "print(4817 * 362 - 95)\n", "héllo wörld ∑ 🚀", "Traceback\n\t\u{0}\u{7f}"] {
            let ids = tok.encode(s)
            XCTAssertEqual(ids.count, s.utf8.count)
            XCTAssertTrue(ids.allSatisfy { $0 >= ByteTokenizer.byteOffset && $0 < 260 })
            XCTAssertEqual(tok.decode(ids), s)
        }
        XCTAssertEqual(tok.render([ByteTokenizer.bos] + tok.encode("a") + [ByteTokenizer.eos]), "<bos>a<eos>")
        // Invalid UTF-8 (half of a two-byte character) decodes with the replacement character.
        XCTAssertEqual(tok.decode([0xC3 + 4]), "\u{FFFD}")
    }
}

final class PolicyTests: XCTestCase {
    func testPresetsMatchReference() throws {
        XCTAssertEqual(PolicyConfig.small.dim, 256); XCTAssertEqual(PolicyConfig.small.layers, 4)
        XCTAssertEqual(PolicyConfig.small.heads, 4); XCTAssertEqual(PolicyConfig.small.ffn, 688)
        XCTAssertEqual(PolicyConfig.base.dim, 512); XCTAssertEqual(PolicyConfig.base.layers, 8)
        XCTAssertEqual(PolicyConfig.base.heads, 8); XCTAssertEqual(PolicyConfig.base.ffn, 1376)
        XCTAssertThrowsError(try PolicyConfig.preset("huge"))
        var bad = tinyConfig; bad.heads = 3
        XCTAssertThrowsError(try Policy(config: bad))
    }

    /// With the AVX-512 few-row tiles and with the AVX2 ones.
    func testKVCacheMatchesFullForward() throws {
        let saved = Kernels.useAVX512
        defer { Kernels.useAVX512 = saved }
        for avx512 in Set([saved, false]) {
            Kernels.useAVX512 = avx512
            for config in [tinyConfig, tinyGQAConfig] { try checkKVCacheMatchesFullForward(config) }
        }
    }

    /// With fp32 panels (AVX-512, at least `fp32PanelMinRows` slots), steps of that many rows read the panels and
    /// steps of fewer rows the policy in place: both give the full forward's logits.
    func testFP32PanelAndInPlaceStepsMatchFullForward() throws {
        let p = try Policy(config: tinyGQAConfig, seed: 6)
        let v = tinyGQAConfig.vocab, count = WeightFormat.fp32PanelMinRows
        let seqs: [[Int32]] = (0..<count).map { k -> [Int32] in
            let t = Int32(k)
            return [1, 3 + t, 100 + t, 200 - t]
        }
        let s = try DecodeSession(policy: p, slots: count, maxLen: 4)
        XCTAssertEqual(s.packed != nil, Kernels.useAVX512)
        _ = try s.feed(seqs.enumerated().map { ($0.offset, Array($0.element.prefix(2))) })
        let many = try s.feed(seqs.enumerated().map { ($0.offset, [$0.element[2]]) })   // `count` rows: panels
        let few = try s.feed([(0, [seqs[0][3]]), (1, [seqs[1][3]])])                        // 2 rows: in place
        for k in 0..<count {
            let full = try noGrad { try p.logits(tokens: seqs[k], batch: 1, seqLen: 4) }.array
            for i in 0..<v { XCTAssertEqual(many[k * v + i], full[2 * v + i], accuracy: 2e-4, "slot \(k)") }
            if k < 2 { for i in 0..<v { XCTAssertEqual(few[k * v + i], full[3 * v + i], accuracy: 2e-4, "slot \(k)") } }
        }
    }

    /// fp32 sessions copy the weights into panels only where the AVX-512 panel kernel runs, steps can have
    /// `fp32PanelMinRows` rows and the copy takes at most a quarter of memory; bf16 and q8 always have their own
    /// weights, fp16 never.
    func testWhichSessionsHoldTheirOwnWeights() {
        let saved = Kernels.useAVX512
        defer { Kernels.useAVX512 = saved }
        let small = 1_000, huge = Int(ProcessInfo.processInfo.physicalMemory / 8), many = WeightFormat.fp32PanelMinRows
        for avx512 in [false, true] {
            Kernels.useAVX512 = avx512
            XCTAssertEqual(WeightFormat.fp32.usesDecodeWeights(parameters: small, slots: many), avx512)
            XCTAssertFalse(WeightFormat.fp32.usesDecodeWeights(parameters: small, slots: many - 1), "few rows a step")
            XCTAssertFalse(WeightFormat.fp32.usesDecodeWeights(parameters: huge, slots: many), "a copy of half the memory")
            XCTAssertEqual(WeightFormat.fp32.sessionBytes(parameters: small, slots: many), avx512 ? 4 * small : 0)
            XCTAssertEqual(WeightFormat.fp32.sessionBytes(parameters: huge, slots: many), 0)
            for format in [WeightFormat.bf16, .q8] { XCTAssertTrue(format.usesDecodeWeights(parameters: huge, slots: 1)) }
            XCTAssertFalse(WeightFormat.fp16.usesDecodeWeights(parameters: small, slots: many))
            XCTAssertEqual(WeightFormat.bf16.sessionBytes(parameters: small, slots: 1), 2 * small)
            XCTAssertEqual(WeightFormat.q8.sessionBytes(parameters: small, slots: 1), 1_250)
            XCTAssertEqual(WeightFormat.fp16.sessionBytes(parameters: small, slots: 1), 4 * small)
        }
    }

    func checkKVCacheMatchesFullForward(_ config: PolicyConfig) throws {
        let p = try seededPolicy(config, seed: 1)
        let tokens: [Int32] = [1, 40, 77, 100, 5, 9, 250, 33, 8]
        let full = try noGrad { try p.logits(tokens: tokens, batch: 1, seqLen: tokens.count) }.array
        let v = config.vocab
        // Prefill 4 tokens, then decode one at a time; a second slot runs a different sequence alongside.
        let s = try DecodeSession(policy: p, slots: 2, maxLen: 16)
        var got = try s.feed([(0, Array(tokens[0..<4])), (1, [1, 7, 7])])
        for i in 0..<v { XCTAssertEqual(got[i], full[3 * v + i], accuracy: 2e-4) }
        for t in 4..<tokens.count {
            got = try s.feed([(1, [9]), (0, [tokens[t]])])
            for i in 0..<v { XCTAssertEqual(got[v + i], full[t * v + i], accuracy: 2e-4) }
        }
        XCTAssertEqual(s.lengths, [tokens.count, 3 + tokens.count - 4])
        XCTAssertThrowsError(try s.feed([(0, [1]), (0, [2])]))
        XCTAssertThrowsError(try s.feed([(0, [Int32](repeating: 5, count: 10))]))
    }

    /// Few-row feeds run whole items on separate workers: ragged prefills and decode steps of several slots
    /// must give every slot the logits of its own full forward, with one worker or two.
    func testItemSplitFeedsMatchFullForward() throws {
        let p = try Policy(config: tinyConfig, seed: 4)
        let v = tinyConfig.vocab
        let seqs: [[Int32]] = [[1, 40, 77, 100, 5, 9], [1, 7], [1, 250, 33, 8, 8, 8, 8], [1, 3, 90], [1, 60, 61, 62, 63]]
        let fulls = try seqs.map { seq in try noGrad { try p.logits(tokens: seq, batch: 1, seqLen: seq.count) }.array }
        let saved = Threads.count
        defer { Threads.set(saved) }
        for workers in [1, 2] {
            Threads.set(workers)
            let s = try DecodeSession(policy: p, slots: seqs.count, maxLen: 8)
            // Prefill all but the last token of each sequence at once, then feed the last tokens in one step.
            let pre = try s.feed(seqs.enumerated().map { ($0.offset, Array($0.element.dropLast())) })
            let step = try s.feed(seqs.enumerated().map { ($0.offset, [$0.element.last!]) }.reversed())
            for (k, seq) in seqs.enumerated() {
                let n = seq.count, j = seqs.count - 1 - k     // row of slot k in the reversed step
                for i in 0..<v {
                    XCTAssertEqual(pre[k * v + i], fulls[k][(n - 2) * v + i], accuracy: 2e-4, "workers \(workers) slot \(k)")
                    XCTAssertEqual(step[j * v + i], fulls[k][(n - 1) * v + i], accuracy: 2e-4, "workers \(workers) slot \(k)")
                }
            }
        }
    }

    /// Scoring the fed tokens gives each token's log-prob after the first of every item, as a full forward
    /// gives them (at temperature 1 and 0.7, in more rows than one scoring chunk), and leaves the last rows'
    /// logits bitwise as without it (sampling must not change).
    func testScoredFeedMatchesFullForwardAndKeepsLastRows() throws {
        let p = try Policy(config: tinyConfig, seed: 4)
        let long = (0..<29).map { Int32(3 + $0 * 7 % 250) }   // 39 fed rows in all: more than one chunk
        let seqs: [[Int32]] = [[1, 40, 77, 100, 5, 9], [1, 7], [1] + long, [1], [1, 60, 61, 62, 63]]
        let saved = Threads.count
        defer { Threads.set(saved) }
        for temperature: Float in [1, 0.7] {
            let fulls = try seqs.map { seq in
                seq.count < 2 ? [] : try noGrad {
                    try p.tokenLogProbs(tokens: Array(seq.dropLast()), targets: Array(seq.dropFirst()), batch: 1,
                                        seqLen: seq.count - 1, temperature: temperature)
                }.array
            }
            for workers in [1, 2] {
                Threads.set(workers)
                let items = seqs.enumerated().map { (slot: $0.offset, tokens: $0.element) }
                let plain = try DecodeSession(policy: p, slots: seqs.count, maxLen: 32).feed(items)
                let (logits, fed) = try DecodeSession(policy: p, slots: seqs.count, maxLen: 32)
                    .feed(items, scoreFedAt: temperature)
                XCTAssertEqual(logits, plain, "workers \(workers): last-row logits must not depend on scoring")
                XCTAssertEqual(fed.count, seqs.map { $0.count - 1 }.reduce(0, +))
                var row = 0
                for (k, seq) in seqs.enumerated() {
                    for r in 0..<(seq.count - 1) {
                        XCTAssertEqual(fed[row], fulls[k][r], accuracy: 2e-4, "T \(temperature) workers \(workers) slot \(k) token \(r + 1)")
                        row += 1
                    }
                }
            }
        }
    }

    /// Empty slots fed the same tokens in one call (the samples of one prompt) are computed once; their logits,
    /// fed log-probs and following decode steps are those of each slot fed alone.
    func testRepeatedPromptsMatchFeedingEachAlone() throws {
        let p = try Policy(config: tinyConfig, seed: 4), v = tinyConfig.vocab
        let prompt: [Int32] = [1, 40, 77, 100, 5], other: [Int32] = [1, 9, 9]
        let prompts = [prompt, other, prompt, prompt], next: [[Int32]] = [[3], [4], [5], [3]]
        let shared = try DecodeSession(policy: p, slots: 4, maxLen: 16)
        let first = try shared.feed(prompts.enumerated().map { ($0.offset, $0.element) }, scoreFedAt: 0.7)
        XCTAssertEqual(shared.lengths, [5, 3, 5, 5])
        let second = try shared.feed(next.enumerated().map { ($0.offset, $0.element) })
        var fedRow = 0
        for k in prompts.indices {
            let alone = try DecodeSession(policy: p, slots: 1, maxLen: 16)
            let (logits, fed) = try alone.feed([(0, prompts[k])], scoreFedAt: 0.7)
            let then = try alone.feed([(0, next[k])])
            for (a, b) in zip(first.logits[(k * v)..<((k + 1) * v)], logits) { XCTAssertEqual(a, b, accuracy: 1e-5) }
            for (a, b) in zip(second[(k * v)..<((k + 1) * v)], then) { XCTAssertEqual(a, b, accuracy: 1e-5, "slot \(k)") }
            for (a, b) in zip(first.fedLogProbs[fedRow...], fed) { XCTAssertEqual(a, b, accuracy: 1e-5) }
            fedRow += fed.count
        }
        XCTAssertEqual(fedRow, first.fedLogProbs.count)
        XCTAssertThrowsError(try DecodeSession(policy: p, slots: 2, maxLen: 16).feed([(0, prompt), (0, prompt)]))
    }

    /// A bf16 KV cache moves the logits a little (the reduced-precision rollout of the instability experiment).
    func testReducedPrecisionCacheMovesLogitsSlightly() throws {
        let p = try Policy(config: tinyConfig, seed: 6)
        let seq: [Int32] = [1, 40, 77, 100, 5, 9, 250, 33]
        let exact = try DecodeSession(policy: p, slots: 1, maxLen: 8).feed([(0, seq)])
        for format in [NumberFormat.bf16, .fp16] {
            let rounded = try DecodeSession(policy: p, slots: 1, maxLen: 8, cacheFormat: format).feed([(0, seq)])
            let worst = zip(exact, rounded).map { abs($0 - $1) }.max()!
            XCTAssertGreaterThan(worst, 0, "\(format)")
            XCTAssertLessThan(worst, format == .bf16 ? 0.05 : 0.01, "\(format)")
        }
    }

    /// A session with bf16 weights computes with the policy rounded to bf16 (its panels hold exactly those
    /// values), prefill and decode steps alike; fp16 uses a rounded copy.
    func testReducedPrecisionWeightsAreTheRoundedPolicy() throws {
        let p = try Policy(config: tinyConfig, seed: 7)
        let seqs: [[Int32]] = [[1, 40, 77, 100, 5, 9], [1, 7, 250], [1, 33, 8, 8, 8]]
        let saved = Threads.count
        defer { Threads.set(saved) }
        for (format, rounding) in [(WeightFormat.bf16, NumberFormat.bf16), (.fp16, .fp16)] {
            let rounded = try p.copy(rounded: rounding)
            for workers in [1, 2] {
                Threads.set(workers)
                func run(_ policy: Policy, _ weights: WeightFormat) throws -> [Float] {
                    let s = try DecodeSession(policy: policy, slots: seqs.count, maxLen: 8, weightFormat: weights)
                    let prefill = try s.feed(seqs.enumerated().map { ($0.offset, Array($0.element.dropLast())) })
                    return prefill + (try s.feed(seqs.enumerated().map { ($0.offset, [$0.element.last!]) }))
                }
                let got = try run(p, format), want = try run(rounded, .fp32), exact = try run(p, .fp32)
                let worst = zip(got, want).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(worst, 1e-4, "\(format), \(workers) workers: the rounded policy's logits")
                XCTAssertGreaterThan(zip(got, exact).map { abs($0 - $1) }.max()!, 10 * worst, "\(format): rounding shows")
            }
        }
    }

    /// A session with q8 weights: every product from 8-bit weight blocks and 15-bit activation blocks, prefill
    /// and decode steps alike, on every q8 kernel this CPU runs (VNNI, AVX2, plain C) with the same logits to the
    /// bit; close to fp32 (the tiny model's logits are within 0.02 of fp32 where bf16's are within 0.05) but not
    /// equal.
    func testQ8WeightsAreCloseToFP32OnEveryKernel() throws {
        let seqs: [[Int32]] = [[1, 40, 77, 100, 5, 9], [1, 7, 250], [1, 33, 8, 8, 8]]
        let saved = (Threads.count, Kernels.q8Kernel)
        defer { Threads.set(saved.0); Kernels.q8Kernel = saved.1 }
        var kernels: [(Int, Q8Kernel)] = [(1, saved.1), (2, saved.1), (2, .plain)]
        if saved.1 == .vnni { kernels.append((2, .avx2)) }
        for config in [tinyConfig, tinyGQAConfig] {
            let p = try Policy(config: config, seed: 7)
            func run(_ weights: WeightFormat) throws -> [Float] {
                let s = try DecodeSession(policy: p, slots: seqs.count, maxLen: 8, weightFormat: weights)
                let prefill = try s.feed(seqs.enumerated().map { ($0.offset, Array($0.element.dropLast())) })
                return prefill + (try s.feed(seqs.enumerated().map { ($0.offset, [$0.element.last!]) }))
            }
            let exact = try run(.fp32)
            var first: [Float]?
            for (workers, kernel) in kernels {
                Threads.set(workers); Kernels.q8Kernel = kernel
                let got = try run(.q8)
                let worst = zip(got, exact).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(worst, 0.02, "\(workers) workers, \(kernel) kernel")
                XCTAssertGreaterThan(worst, 0, "q8 rounds")
                if let first { XCTAssertEqual(got, first, "\(workers) workers, \(kernel) kernel: the same logits") }
                first = got
            }
        }
    }

    /// Only q8 on the plain C kernel (a CPU without AVX2) is flagged as slow.
    func testOnlyPlainQ8IsSlow() {
        let saved = Kernels.q8Kernel
        defer { Kernels.q8Kernel = saved }
        for kernel in [Q8Kernel.plain, .avx2, .vnni] {
            Kernels.q8Kernel = kernel
            for format in WeightFormat.allCases {
                XCTAssertEqual(format.slowHere != nil, format == .q8 && kernel == .plain, "\(format) on \(kernel)")
            }
        }
    }

    /// A decode step with more rows than `itemSplitMaxRows` (one per sequence) is still split by items, and
    /// each worker's block of rows exceeds one 8-row GEMM tile: logits match the full forward.
    func testLargeDecodeStepMatchesFullForward() throws {
        let p = try Policy(config: tinyConfig, seed: 5)
        let v = tinyConfig.vocab, count = DecodeSession.itemSplitMaxRows + 9
        let seqs: [[Int32]] = (0..<count).map { [1, Int32(3 + $0), Int32(200 - $0)] }
        let saved = Threads.count
        defer { Threads.set(saved) }
        Threads.set(2)
        let s = try DecodeSession(policy: p, slots: count, maxLen: 4)
        _ = try s.feed(seqs.enumerated().map { ($0.offset, Array($0.element.dropLast())) })
        let step = try s.feed(seqs.enumerated().map { ($0.offset, [$0.element.last!]) })
        for (k, seq) in seqs.enumerated() where k % 7 == 0 || k == count - 1 {
            let full = try noGrad { try p.logits(tokens: seq, batch: 1, seqLen: seq.count) }.array
            for i in 0..<v { XCTAssertEqual(step[k * v + i], full[2 * v + i], accuracy: 2e-4, "slot \(k)") }
        }
    }

    func testPaddingNeverChangesRealLogProbs() throws {
        let p = try Policy(config: tinyConfig, seed: 2)
        let seq: [Int32] = [1, 50, 60, 70, 80]
        let tgt: [Int32] = [50, 60, 70, 80, 2]
        let alone = try noGrad { try p.tokenLogProbs(tokens: seq, targets: tgt, batch: 1, seqLen: 5) }.array
        let pad = ByteTokenizer.pad
        let other: [Int32] = [1, 9, 9, 9, 9, 9, 9, 9]
        let batch = seq + [pad, pad, pad] + other
        let targets = tgt + [pad, pad, pad] + other
        let both = try noGrad { try p.tokenLogProbs(tokens: batch, targets: targets, batch: 2, seqLen: 8) }.array
        for i in 0..<5 { XCTAssertEqual(both[i], alone[i], accuracy: 1e-5) }
    }

    func testGradientSpotCheck() throws {
        for config in [tinyConfig, tinyGQAConfig] { try checkGradientSpotCheck(config) }
    }

    func checkGradientSpotCheck(_ config: PolicyConfig) throws {
        let p = try seededPolicy(config, seed: 3)
        let tokens: [Int32] = [1, 20, 30, 40, 1, 50, 60, 70]
        let targets: [Int32] = [20, 30, 40, 2, 50, 60, 70, 2]
        func loss() throws -> Double {
            let lp = try noGrad { try p.tokenLogProbs(tokens: tokens, targets: targets, batch: 2, seqLen: 4) }
            return lp.array.reduce(0.0) { $0 + Double($1) }
        }
        p.arena.zeroGrad()
        let lp = try p.tokenLogProbs(tokens: tokens, targets: targets, batch: 2, seqLen: 4)
        try lp.backward(seed: [Float](repeating: 1, count: 8))
        // A few parameters from every kind of tensor.
        for e in p.arena.entries {
            for k in [0, e.count / 2, e.count - 1] {
                let i = e.offset + k
                let saved = p.arena.data[i]
                let eps: Float = 1e-2
                p.arena.data[i] = saved + eps; let lp1 = try loss()
                p.arena.data[i] = saved - eps; let lm1 = try loss()
                p.arena.data[i] = saved
                let numeric = (lp1 - lm1) / Double(2 * eps)
                XCTAssertEqual(Double(p.arena.grad[i]), numeric, accuracy: 2e-2 * max(1, abs(numeric)), "\(e.name)[\(k)]")
            }
        }
    }
}

final class SamplingTests: XCTestCase {
    func testSeededSamplingIsReproducibleAndBatchIndependent() throws {
        let p = try Policy(config: tinyConfig, seed: 4)
        let reqs = [GenerationRequest(prompt: [1, 40, 41], maxNewTokens: 12),
                    GenerationRequest(prompt: [1, 90], maxNewTokens: 7)]
        let a = try generate(p, reqs, seed: 99)
        let b = try generate(p, reqs, seed: 99)
        XCTAssertEqual(a.map(\.tokens), b.map(\.tokens))
        XCTAssertEqual(a.map(\.logProbs), b.map(\.logProbs))
        XCTAssertNotEqual(try generate(p, reqs, seed: 100).map(\.tokens), a.map(\.tokens))
        XCTAssertTrue(a[0].tokens.count <= 12 && a[1].tokens.count <= 7)
        // Sampling log-probs are the policy's log-probs of the sampled tokens (temperature 1).
        let seq = reqs[0].prompt + a[0].tokens
        let lp = try noGrad { try p.tokenLogProbs(tokens: Array(seq.dropLast()), targets: Array(seq.dropFirst()),
                                                   batch: 1, seqLen: seq.count - 1) }.array
        for (j, l) in a[0].logProbs.enumerated() { XCTAssertEqual(l, lp[reqs[0].prompt.count - 1 + j], accuracy: 1e-4) }
    }

    func testTopKOneIsGreedyAndStopStrings() throws {
        let p = try Policy(config: tinyConfig, seed: 5)
        let req = [GenerationRequest(prompt: [1, 60], maxNewTokens: 6)]
        let greedy = try generate(p, req, params: .init(temperature: 0), seed: 1)
        let top1 = try generate(p, req, params: .init(temperature: 1, topK: 1), seed: 2)
        XCTAssertEqual(greedy[0].tokens, top1[0].tokens)
        var m = StopMatcher(["```\n"])
        let hits = ByteTokenizer().encode("x```\n").map { m.feed($0) }
        XCTAssertEqual(hits, [false, false, false, false, true])
        XCTAssertThrowsError(try generate(p, req, params: .init(topP: 0), seed: 1))
    }
}

final class CheckpointTests: XCTestCase {
    func testRoundTripIsBitExact() throws {
        var c = tinyConfig; c.tiedHead = false
        let p = try Policy(config: c, seed: 6)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tir-ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Checkpoint.save(p, to: dir)
        try Checkpoint.save(p, to: dir)   // overwriting is atomic and leaves no temp directories
        let q = try Checkpoint.load(dir)
        XCTAssertEqual(q.config, c)
        XCTAssertEqual(memcmp(p.arena.data, q.arena.data, p.arena.count * 4), 0)
        let siblings = try FileManager.default.contentsOfDirectory(atPath: dir.deletingLastPathComponent().path)
        XCTAssertFalse(siblings.contains { $0.hasPrefix(".\(dir.lastPathComponent)") })
    }

    /// GQA, head size, biases, untied head and rope scaling survive config.json: the reloaded policy is equal.
    func testRealArchitectureRoundTrip() throws {
        let p = try seededPolicy(tinyGQAConfig, seed: 8)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tir-gqa-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Checkpoint.save(p, to: dir, special: SpecialTokens(bos: nil, eos: [5, 6], pad: 5))
        let (config, special) = try Checkpoint.loadConfigAndTokens(dir)
        XCTAssertEqual(config, tinyGQAConfig)
        XCTAssertEqual(special, SpecialTokens(bos: nil, eos: [5, 6], pad: 5))
        let q = try Checkpoint.load(dir)
        XCTAssertEqual(memcmp(p.arena.data, q.arena.data, p.arena.count * 4), 0)
    }

    /// config.json as Hugging Face writes it: optional keys absent, rope settings under rope_parameters, eos a list.
    func testLenientHuggingFaceConfig() throws {
        let minimal = #"""
            {"model_type": "mistral", "vocab_size": 300, "hidden_size": 16, "intermediate_size": 20,
             "num_hidden_layers": 1, "num_attention_heads": 2, "eos_token_id": [2, 7],
             "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                 "original_max_position_embeddings": 64}}
            """#
        let (c, special) = try HFConfig.read(Data(minimal.utf8), path: "config.json")
        XCTAssertEqual(c.architecture, "llama"); XCTAssertEqual(c.kvHeadCount, 2); XCTAssertEqual(c.ropeTheta, 500000)
        XCTAssertEqual(c.ropeScaling, RopeScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64))
        XCTAssertFalse(c.tiedHead); XCTAssertEqual(special.eos, [2, 7]); XCTAssertNil(special.bos)
        let cases = [(#"{"model_type": "gpt2"}"#, "model_type 'gpt2' is not supported"),
                     (#"{"model_type": "llama", "hidden_size": 16}"#, "is missing"),
                     (#"{"model_type": "llama", "hidden_size": 16, "num_attention_heads": 2, "vocab_size": "many"}"#,
                      "vocab_size is not an integer"),
                     ("[1, 2]", "not a JSON object"),
                     (minimal.replacingOccurrences(of: "llama3", with: "yarn"), "rope scaling type 'yarn'"),
                     (minimal.replacingOccurrences(of: "\"num_attention_heads\": 2", with: "\"num_attention_heads\": 3"), "heads")]
        for (json, expected) in cases {
            XCTAssertThrowsError(try HFConfig.read(Data(json.utf8), path: "config.json")) {
                XCTAssertTrue("\($0)".contains(expected), "\($0)")
            }
        }
    }

    /// Values that fit JSON but not the model (found by Fuzz/ hfconfig): they are errors naming the key, never a trap
    /// (Int32(_:) of a 2^33 token id) or a config that passes validate() with an infinite rope factor or attention
    /// projections of 2^24 x 2^14 weights.
    func testHuggingFaceConfigValuesOutOfRange() throws {
        func config(_ fields: [String: Any]) throws -> Data {
            let base: [String: Any] = ["model_type": "llama", "vocab_size": 64, "hidden_size": 8, "intermediate_size": 12,
                                       "num_hidden_layers": 1, "num_attention_heads": 2]
            return try JSONSerialization.data(withJSONObject: base.merging(fields) { _, new in new })
        }
        let cases: [([String: Any], String)] = [
            (["bos_token_id": 12147483647], "bos_token_id 12147483647 is not a token id"),
            (["eos_token_id": [2, -4294967296]], "eos_token_id -4294967296 is not a token id"),
            (["pad_token_id": 2147483648], "pad_token_id 2147483648 is not a token id"),
            (["rope_scaling": ["rope_type": "llama3", "factor": 1e39]], "factor 1e+39 is beyond the range of Float"),
            (["rope_theta": -1e300], "rope_theta -1e+300 is beyond the range of Float"),
            (["hidden_size": 16384, "num_attention_heads": 16384, "head_dim": 1024], "config.heads must be at most 64 with head size 1024"),
        ]
        for (fields, expected) in cases {
            XCTAssertThrowsError(try HFConfig.read(config(fields), path: "config.json"), expected) {
                XCTAssertTrue("\($0)".hasPrefix("config.json: ") && "\($0)".contains(expected), "\($0)")
            }
        }
        // The largest ids and an attention width of 65536 are fine; ids outside the vocabulary name no token
        // (a negative pad id: old Llama conversions), so they are dropped.
        let (c, special) = try HFConfig.read(config(["eos_token_id": [2147483647, 0], "pad_token_id": -1, "hidden_size": 16384,
                                                     "num_attention_heads": 64, "head_dim": 1024]), path: "config.json")
        XCTAssertEqual(c.attentionDim, 65536)
        XCTAssertEqual(special, SpecialTokens(bos: nil, eos: [0], pad: nil))
        var scaled = PolicyConfig.small
        scaled.ropeScaling = RopeScaling(factor: .infinity, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64)
        XCTAssertThrowsError(try scaled.validate()) { XCTAssertTrue("\($0)".contains("ropeScaling"), "\($0)") }
        // generation_config.json is read leniently: an id beyond 32 bits names no EOS.
        XCTAssertEqual(HFConfig.generationEOS(Data(#"{"eos_token_id": [5, 8589934592]}"#.utf8)), [])
        XCTAssertEqual(HFConfig.generationEOS(Data(#"{"eos_token_id": [5, 6]}"#.utf8)), [5, 6])
    }

    func testMissingAndTruncatedCheckpointsAreClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tir-bad-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try Checkpoint.load(dir)) { XCTAssertTrue("\($0)".contains("missing")) }
        try Checkpoint.save(try Policy(config: tinyConfig, seed: 7), to: dir)
        let w = Checkpoint.weightsURL(dir)
        let data = try Data(contentsOf: w)
        try data.prefix(data.count / 2).write(to: w)
        XCTAssertThrowsError(try Checkpoint.load(dir))
        // A config that disagrees with the weights.
        try Checkpoint.save(try Policy(config: tinyConfig, seed: 7), to: dir)
        var big = tinyConfig; big.ffn = 24
        let other = FileManager.default.temporaryDirectory.appendingPathComponent("tir-big-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: other) }
        try Checkpoint.save(try Policy(config: big, seed: 7), to: other)
        try FileManager.default.removeItem(at: Checkpoint.configURL(dir))
        try FileManager.default.copyItem(at: Checkpoint.configURL(other), to: Checkpoint.configURL(dir))
        XCTAssertThrowsError(try Checkpoint.load(dir)) { XCTAssertTrue("\($0)".contains("shape")) }
    }

    /// A diverged run's weights (NaN or inf) never load: the error names the tensor.
    func testNonFiniteWeightsAreRejected() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tir-nan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        for bad in [Float.nan, .infinity] {
            let p = try Policy(config: tinyConfig, seed: 7)
            let e = p.arena.entries.first { $0.name.hasSuffix("mlp.down_proj.weight") }!
            p.arena.data[e.offset + 3] = bad
            try Checkpoint.save(p, to: dir)
            XCTAssertThrowsError(try Checkpoint.load(dir)) {
                XCTAssertTrue("\($0)".contains("\(e.name) holds a non-finite value"), "\($0)")
            }
        }
    }
}

/// Tokens of several bytes each, like BPE's: a stop string may end inside a token or span two.
private struct ChunkTokenizer: TextTokenizer {
    let pieces: [String]
    var vocabSize: Int { pieces.count }
    var bos: Int32? { nil }
    var eos: Set<Int32> { [0] }
    var pad: Int32 { 0 }
    func encode(_ text: String) -> [Int32] { [] }
    func tokenBytes(_ id: Int32) -> [UInt8] { Array(pieces[Int(id)].utf8) }
    func isSpecial(_ id: Int32) -> Bool { id == 0 }
}

final class StopMatcherTests: XCTestCase {
    func testStopStringsInsideAndAcrossMultiByteTokens() {
        let tok = ChunkTokenizer(pieces: ["<eos>", "print(1)\n``", "`\nmore", "x```\ny", "ok"])
        var across = StopMatcher(["```\n"], tokenizer: tok)
        XCTAssertEqual([1, 2].map { across.feed(Int32($0)) }, [false, true])   // "``" + "`\n..." spans two tokens
        var inside = StopMatcher(["```\n"], tokenizer: tok)
        XCTAssertEqual([4, 3].map { inside.feed(Int32($0)) }, [false, true])   // ends inside "x```\ny"
        var special = StopMatcher(["<eos>"], tokenizer: tok)
        XCTAssertFalse(special.feed(0), "special tokens are not text")
    }
}
