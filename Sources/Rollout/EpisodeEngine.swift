import Foundation
import Model
import Tensor

/// The result of running one code block.
public struct CodeOutcome: Sendable {
    public var status: ExecutionStatus
    public var stdout: String
    public var stderr: String
    public init(status: ExecutionStatus, stdout: String, stderr: String) {
        self.status = status; self.stdout = stdout; self.stderr = stderr
    }
}

/// Runs code blocks (concurrently, results in order). The sandbox pool is the real one; tests may fake it.
public protocol CodeExecutor: AnyObject {
    /// Throws when the executor cannot run code at all (the run must stop rather than show the policy
    /// infrastructure errors).
    func execute(_ codes: [String]) async throws -> [CodeOutcome]
}

/// Wall time and volume of one rollout batch.
public struct RolloutStats: Sendable {
    public var trajectories = 0
    public var policyTokens = 0
    public var toolTokens = 0
    public var decodeSeconds = 0.0     // policy forward + sampling (prefills included)
    public var sandboxSeconds = 0.0    // waiting for code execution
    public var retokenizedTurns = 0    // turns whose ids the decode / re-tokenize round trip changed
    public var totalSeconds = 0.0
    public init() {}
}

/// Multi-turn TIR episodes: all trajectories decode together; a trajectory whose turn closes a code block
/// is paused, its code runs in the sandbox (all such codes of a step concurrently), the observation is
/// tokenized with role `tool` and prefilled into that slot, and decoding resumes. Waiting for every paused
/// code of a step before the next step keeps the schedule, and thus the run, deterministic.
public final class EpisodeEngine {
    public let config: RolloutConfig
    public let format: EpisodeFormat
    public let reward: RewardScheme
    /// The policy's tokenizer: prompts and observations are encoded with it, turns are read from its bytes.
    public let tokenizer: any TextTokenizer
    /// How a question becomes the prompt (raw for the toy policy, the chat template for a chat model).
    public let prompt: PromptTemplate

    public init(config: RolloutConfig, format: EpisodeFormat = EpisodeFormat(), reward: RewardScheme,
                tokenizer: any TextTokenizer = ByteTokenizer(), prompt: PromptTemplate = .raw) throws {
        try config.validate()
        self.config = config
        self.format = format
        self.reward = reward
        self.tokenizer = tokenizer
        self.prompt = prompt
    }

    /// Per-trajectory bookkeeping while it is live.
    struct Live {
        var tokens: [Int32]
        var roles: [TokenRole]
        var logProbs: [Float]
        var turnStart: Int
        var turnBytes: [UInt8] = []
        var turns: [Turn] = []
        var toolCalls = 0
        var newTokens = 0
        var finish: FinishReason?
    }

    /// Runs tasks x `groupSize` trajectories; trajectory i*groupSize+g belongs to task i (its group is i).
    public func run(tasks: [MathTask], groupSize: Int, source: TokenSource, executor: CodeExecutor?,
                    contextLimit: Int) async throws -> (trajectories: [Trajectory], stats: RolloutStats) {
        let start = Date()
        var stats = RolloutStats()
        let prompts = tasks.map { (tokenizer.bos.map { [$0] } ?? []) + tokenizer.encode(prompt.text(question: $0.question, format: format)) }
        var live: [Live] = []
        for p in prompts {
            for _ in 0..<groupSize {
                live.append(Live(tokens: p, roles: Array(repeating: .prompt, count: p.count),
                                 logProbs: Array(repeating: 0, count: p.count), turnStart: p.count))
            }
        }
        guard !live.isEmpty else { return ([], stats) }
        let longest = prompts.map(\.count).max()!
        let maxLen = min(contextLimit, longest + config.maxTrajectoryTokens)
        guard longest < maxLen else {
            throw RolloutError("a prompt of \(longest) tokens leaves no room in the context of \(contextLimit)")
        }
        try source.begin(slots: live.count, maxLen: maxLen)
        var pending: [(slot: Int, tokens: [Int32])] = live.indices.map { ($0, live[$0].tokens) }

        var firstStep = true   // it feeds the prompts: their log-probs stay 0, nothing reads them
        while !pending.isEmpty {
            let t0 = Date(), scoreFed = !firstStep
            let sampled = try source.step(pending, scoreFed: scoreFed)
            firstStep = false
            stats.decodeSeconds += Date().timeIntervalSince(t0)
            var next: [(slot: Int, tokens: [Int32])] = []
            var toRun: [(slot: Int, code: String, wroteMarker: Bool)] = []
            guard sampled.count == pending.count else {
                throw RolloutError("the token source returned \(sampled.count) results for \(pending.count) items")
            }
            for (item, s) in zip(pending, sampled) {
                let i = item.slot
                // The fed tokens are the last ones of the record: their behaviour log-probs go in place.
                guard s.fedLogProbs.count == (scoreFed ? item.tokens.count - 1 : 0) else {
                    throw RolloutError("the token source scored \(s.fedLogProbs.count) of \(item.tokens.count - 1) fed tokens")
                }
                let fedEnd = live[i].logProbs.count
                live[i].logProbs.replaceSubrange(fedEnd - s.fedLogProbs.count ..< fedEnd, with: s.fedLogProbs)
                live[i].tokens.append(s.token); live[i].roles.append(.policy); live[i].logProbs.append(s.logProb)
                live[i].newTokens += 1
                if tokenizer.eos.contains(s.token) {
                    closeTurn(&live[i], cutByLimit: false)
                    live[i].finish = live[i].turns.last!.isVoid ? .voidTurn : .answer
                    continue
                }
                let bytes = tokenizer.isSpecial(s.token) ? [] : tokenizer.tokenBytes(s.token)
                live[i].turnBytes += bytes
                // A turn can only end with a token that holds a newline (a closing fence's, possibly with more text
                // after it in the same BPE token) or the last byte of the output marker. The whole token stays:
                // token in, token out.
                let mayEnd = bytes.contains(UInt8(ascii: "\n")) || bytes.contains(format.outputMarker.utf8.last!)
                let end = mayEnd ? detectTurnEnd(String(decoding: live[i].turnBytes, as: UTF8.self), format: format) : .none
                switch end {
                case .codeClosed(let code):
                    toRun.append((i, code, false))
                    continue
                case .outputMarker(let code?):
                    toRun.append((i, code, true))
                    continue
                case .outputMarker(nil):
                    closeTurn(&live[i], cutByLimit: false)      // "```output" with no code: void
                    live[i].finish = .voidTurn
                    continue
                case .none:
                    break
                }
                let turnTokens = live[i].tokens.count - live[i].turnStart
                if turnTokens >= config.maxTurnTokens || live[i].newTokens >= config.maxTrajectoryTokens
                    || live[i].tokens.count >= maxLen {
                    closeTurn(&live[i], cutByLimit: true)
                    live[i].finish = .tokenLimit
                    continue
                }
                next.append((i, [s.token]))
            }

            // Code: enforce the tool-call budget, execute the rest together, prefill observations.
            var runnable: [(slot: Int, code: String, wroteMarker: Bool)] = []
            for r in toRun {
                if !config.executeCode || executor == nil || live[r.slot].toolCalls >= config.maxToolCalls {
                    closeTurn(&live[r.slot], cutByLimit: false)
                    live[r.slot].finish = .toolCallLimit
                } else {
                    runnable.append(r)
                }
            }
            if !runnable.isEmpty, let executor {
                let t1 = Date()
                let outcomes = try await executor.execute(runnable.map(\.code))
                guard outcomes.count == runnable.count else {
                    throw RolloutError("the code executor returned \(outcomes.count) outcomes for \(runnable.count) code blocks")
                }
                stats.sandboxSeconds += Date().timeIntervalSince(t1)
                for (r, outcome) in zip(runnable, outcomes) {
                    let i = r.slot
                    closeTurn(&live[i], cutByLimit: false, execution: outcome.status)
                    live[i].toolCalls += 1
                    var obs = format.observationBlock(config.observationStyle.format(
                        stdout: outcome.stdout, stderr: outcome.stderr, failed: outcome.status != .ok, cap: config.observationCap))
                    if r.wroteMarker { obs.removeFirst(format.outputMarker.count) }   // the policy wrote it already
                    let toks = tokenizer.encode(obs)
                    let again = config.retokenizeTurns ? reencodedTurn(live[i]) : nil
                    let grown = again.map { $0.count - live[i].turns.last!.policyRange.count } ?? 0
                    let room = min(maxLen - live[i].tokens.count, config.maxTrajectoryTokens - live[i].newTokens)
                    guard toks.count + max(0, grown) < room else {   // no room to insert the observation and answer after it
                        live[i].finish = .tokenLimit
                        continue
                    }
                    // Fed with the observation: the token that ended the turn (sampled, not yet fed), or after a
                    // round trip the last token before the turn and the turn's new ids (the slot forgets the old).
                    var prefix = [live[i].tokens[live[i].tokens.count - 1]]
                    if let again {
                        let turn = live[i].turns[live[i].turns.count - 1].policyRange
                        try source.rewind(slot: i, to: turn.lowerBound - 1)
                        live[i].tokens.replaceSubrange(turn, with: again)
                        live[i].roles.replaceSubrange(turn, with: repeatElement(.policy, count: again.count))
                        live[i].logProbs.replaceSubrange(turn, with: repeatElement(0, count: again.count))   // scored by the prefill
                        live[i].newTokens += grown
                        live[i].turns[live[i].turns.count - 1].policyRange = turn.lowerBound..<(turn.lowerBound + again.count)
                        prefix = [live[i].tokens[turn.lowerBound - 1]] + again
                        stats.retokenizedTurns += 1
                    }
                    let from = live[i].tokens.count
                    live[i].tokens += toks
                    live[i].roles += Array(repeating: .tool, count: toks.count)
                    live[i].logProbs += Array(repeating: 0, count: toks.count)   // scored by the prefill (next step)
                    live[i].newTokens += toks.count
                    live[i].turns[live[i].turns.count - 1].observationRange = from..<live[i].tokens.count
                    live[i].turnStart = live[i].tokens.count
                    next.append((i, prefix + toks))
                }
            }
            pending = next.sorted { $0.slot < $1.slot }
        }

        var out: [Trajectory] = []
        for (i, l) in live.enumerated() {
            let task = tasks[i / groupSize]
            let policyText = tokenizer.decode(zip(l.tokens, l.roles).filter { $0.1 == .policy }.map { $0.0 }, skipSpecial: true)
            // The final part: from the last observation (or the final turn when no code ran) to the end.
            let finalStart = l.turns.last(where: { $0.observationRange != nil })?.observationRange?.lowerBound
                ?? l.turns.last?.policyRange.lowerBound ?? l.tokens.count
            let finalText = tokenizer.decode(Array(l.tokens[finalStart...]), skipSpecial: true)
            let answer = config.answerRule.answer(policyText: policyText, finalText: finalText)
            let correct = answer.map { answersEquivalent($0, task.answer) } ?? false
            var t = Trajectory(taskId: task.id, group: i / groupSize, tokens: l.tokens, roles: l.roles,
                               samplingLogProbs: l.logProbs, turns: l.turns, toolCalls: l.toolCalls,
                               finish: l.finish ?? .tokenLimit, answer: answer, correct: correct, reward: 0)
            t.reward = reward.reward(RewardInput(t))
            stats.policyTokens += t.policyTokenCount
            stats.toolTokens += l.roles.filter { $0 == .tool }.count
            out.append(t)
        }
        stats.trajectories = out.count
        stats.totalSeconds = Date().timeIntervalSince(start)
        return (out, stats)
    }

    /// SimpleTIR's round trip: the ids of the last (closed) turn encoded again from their text, nil when they come
    /// back the same (or the turn holds a special token, which text does not carry).
    func reencodedTurn(_ l: Live) -> [Int32]? {
        let ids = Array(l.tokens[l.turns[l.turns.count - 1].policyRange])
        guard !ids.contains(where: tokenizer.isSpecial) else { return nil }
        let again = tokenizer.encode(tokenizer.decode(ids))
        return again == ids || again.isEmpty ? nil : again
    }

    /// Records the current policy turn (tokens turnStart..<end) with its flags.
    func closeTurn(_ l: inout Live, cutByLimit: Bool, execution: ExecutionStatus = .none) {
        let text = String(decoding: l.turnBytes, as: UTF8.self)
        let hasCode = turnCode(text, format: format) != nil
        let hasAnswer = config.voidTurnAnswer.hasAnswer(text, rule: config.answerRule)
        l.turns.append(Turn(policyRange: l.turnStart..<l.tokens.count, hasCode: hasCode, hasAnswer: hasAnswer,
                            isVoid: isVoidTurn(text: text, cutByLimit: cutByLimit, format: format,
                                               answer: config.voidTurnAnswer, rule: config.answerRule),
                            execution: execution))
        l.turnBytes.removeAll()
    }
}
