import XCTest
import Model
import Training
@testable import GRPO

/// An old run's config.json (before the sections): every field flat, as the old encoder wrote it.
let oldFlatDefaults = #"""
{"advantage":"grpo","aggregation":"tokenMean","checkpointEvery":10,"difficulty":2,"drGRPONormalizer":256,"dualClip":3,"dynamicSampling":false,"epsHigh":0.28,"epsLow":0.2,"executabilityPenalty":false,"filterTruncated":false,"filterVoidTurns":true,"gradClip":1,"groupSize":8,"klBeta":0,"klEstimator":"k3","lr":0.0002,"lrSchedule":"constant","maskToolTokens":true,"maxResampleRounds":2,"maxToolCalls":2,"maxTrajectoryTokens":320,"maxTurnTokens":128,"microBatch":16,"miniBatches":2,"observationCap":256,"promptsPerStep":16,"reward":"torl","sandboxTimeout":3,"sandboxWorkers":0,"seed":1,"skipZeroAdvantage":true,"steps":40,"temperature":1,"topK":0,"topP":1,"warmupSteps":0,"weightDecay":0}
"""#

/// A config in the old flat format (what runs written before the sections hold in config.json and
/// trainer_state.json): every leaf under its old flat name, dual-clip off as 0.
func oldFlatJSON(_ c: GRPOConfig) throws -> String {
    let leaves = Dictionary(uniqueKeysWithValues: ConfigCoding.leaves(try ConfigCoding.tree(c)).map { ($0.path, $0.value) })
    var flat: [String: Any] = [:]
    for (old, path) in GRPOConfig.flatNames { flat[old] = leaves[path] is NSNull ? 0 : leaves[path] }
    for (path, v) in leaves where !path.contains(".") { flat[path] = v }
    for dropped in ["keepCheckpoints"] { flat[dropped] = nil }   // fields the old format did not have
    return String(decoding: try JSONSerialization.data(withJSONObject: flat, options: [.sortedKeys]), as: UTF8.self)
}

final class GRPOConfigTests: XCTestCase {
    func load(_ json: String = "", _ overrides: [String] = []) throws -> GRPOConfig {
        try GRPOConfig.load(json: Data(json.utf8), overrides: overrides)
    }

    func assertError(_ json: String = "", overrides: [String] = [], contains needles: [String],
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(json, overrides), file: file, line: line) { error in
            XCTAssertTrue(error is ConfigError, "\(type(of: error)): \(error)", file: file, line: line)
            for n in needles { XCTAssertTrue("\(error)".contains(n), "'\(error)' lacks '\(n)'", file: file, line: line) }
        }
    }

    func testSectionsOverridesAndUnknownFields() throws {
        XCTAssertEqual(try load(), GRPOConfig())
        let c = try load(#"{"optimizer": {"lr": 0.001}, "loss": {"aggregation": "seqMeanTokenSum", "dualClip": null}}"#,
                         ["groupSize=4", "filter.voidTurns=false", "reward.scheme=simpletir", "rollout.maxTurnTokens=96",
                          "rollout.sampling.topP=0.9", "tasks.data=7"])
        XCTAssertEqual(c.optimizer.lr, 0.001)
        XCTAssertEqual(c.loss.aggregation, .seqMeanTokenSum)
        XCTAssertNil(c.loss.dualClip)
        XCTAssertEqual(c.groupSize, 4)
        XCTAssertFalse(c.filter.voidTurns)
        XCTAssertEqual(c.reward.scheme, .simpletir)
        XCTAssertEqual(c.rollout.maxTurnTokens, 96)
        XCTAssertEqual(c.rollout.sampling.topP, 0.9)
        XCTAssertEqual(c.tasks.data, "7", "a string field takes the override's text as given")
        XCTAssertEqual(try load(c.json), c, "a saved config loads back unchanged")

        assertError(#"{"learningRate": 1}"#, contains: ["unknown config field 'learningRate'", "optimizer"])
        assertError(#"{"rollout": {"maxTurnToken": 9}}"#, contains: ["'rollout.maxTurnToken'", "maxTurnTokens"])
        assertError(#"{"rollout": 5}"#, contains: ["'rollout' must be an object"])
        assertError(overrides: ["rollout.maxTurnToken=9"], contains: ["'rollout.maxTurnToken'", "valid fields of rollout"])
        assertError(overrides: ["rollout=5"], contains: ["'rollout' is a section"])
        assertError(overrides: ["steps.x=5"], contains: ["'steps' is a value"])
        assertError(overrides: ["optimizer.lr=fast"], contains: ["'optimizer.lr' must be a number, got \"fast\""])
        assertError(overrides: ["lr=null"], contains: ["'optimizer.lr' must be a number, got null"])
        assertError(overrides: ["loss.aggregation=mean"], contains: ["'loss.aggregation' cannot be \"mean\"", "tokenMean"])
        assertError(overrides: ["steps"], contains: ["not key=value"])
        assertError(overrides: ["=3"], contains: ["not key=value"])
        // Found by Fuzz/ (fuzz-config): "." split into no path at all, and setting it trapped (index out of range).
        assertError(overrides: [".=0.0005"], contains: ["unknown config field '.'"])
        assertError(overrides: ["optimizer..lr=1"], contains: ["unknown config field 'optimizer..lr'"])
        assertError(overrides: ["optimizer.lr.=1"], contains: ["unknown config field 'optimizer.lr.'"])
        assertError("[1]", contains: ["must be a JSON object"])
        assertError("{", contains: ["not valid JSON"])
    }

    func testOldFlatConfigsStillLoad() throws {
        XCTAssertEqual(try load(oldFlatDefaults), GRPOConfig())
        var off = GRPOConfig()
        off.loss.dualClip = nil
        XCTAssertEqual(try load(oldFlatDefaults.replacingOccurrences(of: #""dualClip":3"#, with: #""dualClip":0"#)), off)
        var c = GRPOConfig()
        c.optimizer.lr = 1e-3; c.rollout.maxTurnTokens = 96; c.reward.scheme = .simpletir; c.kl.beta = 0.1
        c.loss.dualClip = nil; c.filter.maskToolTokens = false; c.sandbox.timeout = 5; c.tasks.difficulty = 3
        XCTAssertEqual(try load(try oldFlatJSON(c)), c)
        XCTAssertEqual(try load("", ["lr=0.001", "maxTurnTokens=96", "reward=simpletir", "dualClip=0"]).loss.dualClip, nil)
        assertError(#"{"lr": 0.001, "optimizer": {"lr": 0.002}}"#, contains: ["'optimizer.lr' is given twice", "'lr'"])
    }

    /// Every field, set out of range (or to a value of the wrong type), is rejected with a message naming it.
    func testEveryOutOfRangeFieldIsRejectedWithItsName() throws {
        let bad: [String: [String]] = [
            "seed": ["-1", "1.5"], "steps": ["0", "-3"], "promptsPerStep": ["0", "5000"], "groupSize": ["1", "2000"],
            "miniBatches": ["0", "129"], "microBatch": ["0", "5000"], "skipZeroAdvantage": ["2"],
            "advantage": [#""mean""#], "dynamicSampling": [#""yes""#], "maxResampleRounds": ["-1", "101"],
            "checkpointEvery": ["-1"], "keepCheckpoints": ["0", "1001"],
            "optimizer.lr": ["-1", "0", "null", #""fast""#, "2"], "optimizer.schedule": [#""linear""#],
            "optimizer.warmupSteps": ["-1"], "optimizer.weightDecay": ["-0.1", "2"], "optimizer.gradClip": ["0", "-1"],
            "loss.epsLow": ["-0.1", "1"], "loss.epsHigh": ["-1", "11"], "loss.dualClip": ["0", "1", "0.5", "1e7"],
            "loss.aggregation": [#""sum""#], "loss.drGRPONormalizer": ["0", "-5"],
            "kl.beta": ["-0.1", "101"], "kl.estimator": [#""k4""#],
            "filter.voidTurns": ["1"], "filter.truncated": ["null"], "filter.maskToolTokens": [#""no""#],
            "rollout.maxToolCalls": ["-1", "65"], "rollout.maxTurnTokens": ["0"], "rollout.maxTrajectoryTokens": ["0"],
            "rollout.observationCap": ["16"], "rollout.executeCode": ["3"], "rollout.retokenizeTurns": ["3"],
            "rollout.sampling.temperature": ["-1", "11"], "rollout.sampling.topK": ["-1"],
            "rollout.sampling.topP": ["0", "1.5"],
            "reward.scheme": [#""dapo""#], "reward.executabilityPenalty": ["0"],
            "sandbox.timeout": ["0", "-3", "601"], "sandbox.workers": ["-1", "257"],
            "tasks.difficulty": ["0", "5"], "tasks.data": ["5", "null"], "tasks.evalData": [#""eval.jsonl""#],
            "tasks.heldOutFraction": ["-0.1", "0.95"],
            "ppoEpochs": ["0", "101"], "rolloutWeights": [#""fp8""#], "rolloutKVCache": ["16"],
            "rollout.observationStyle": [#""verbose""#],
            "correction.recomputeOldLogProbs": [#""sometimes""#], "correction.mode": [#""clip""#],
            "correction.tisCap": ["0.5", "1e9"], "correction.misLow": ["0", "1.5"], "correction.misHigh": ["0.9"],
            "microBatchTokens": ["-1", "1e9"], "memoryBudgetGB": ["-1", #""4GB""#], "tasks.builtin": [#""gsm8k""#],
            "rollout.answerRule": [#""first""#], "rollout.voidTurnAnswer": [#""number""#], "rollout.instruction": ["3", "null"],
        ]
        let leaves = Set(ConfigCoding.leaves(try ConfigCoding.tree(GRPOConfig())).map(\.path))
        XCTAssertEqual(Set(bad.keys), leaves, "every field needs an out-of-range value in this test")
        for (path, values) in bad {
            for v in values {
                // As a JSON file with the field in its section...
                let parts = path.split(separator: ".")
                let json = parts.reversed().reduce(v) { inner, key in "{\"\(key)\": \(inner)}" }
                assertError(json, contains: [path])
                // ... and as a --set override (a string field takes the text as given: only files can mistype it).
                if !["tasks.data", "rollout.instruction"].contains(path) { assertError(overrides: ["\(path)=\(v)"], contains: [path]) }
            }
        }
    }

    func testEveryFieldIsDocumented() throws {
        let leaves = Set(ConfigCoding.leaves(try ConfigCoding.tree(GRPOConfig())).map(\.path))
        XCTAssertEqual(leaves, Set(GRPOConfig.documentation.map(\.key)))
        for (old, path) in GRPOConfig.flatNames { XCTAssertTrue(leaves.contains(path), "\(old) -> \(path)") }
    }

    func testDifferencesNameTheFields() throws {
        var a = GRPOConfig(), b = GRPOConfig()
        XCTAssertEqual(try ConfigCoding.differences(a, b), [])
        a.optimizer.lr = 1e-3; b.rollout.maxTurnTokens = 64
        XCTAssertEqual(try ConfigCoding.differences(a, b), ["optimizer.lr: 0.001 -> 0.0002", "rollout.maxTurnTokens: 128 -> 64"])
    }
}
