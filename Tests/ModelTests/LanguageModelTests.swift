import Foundation
import Tensor
import XCTest
@testable import Model

/// golden.json and chat_golden.json (reference/make_model_fixtures.py): tiny Llama (GQA, BF16, tied), Qwen2
/// (biases, untied head, sharded F16) and Llama-3 (rope scaling, head_dim 32) models as Hugging Face directories
/// and GGUF files with several quantized types, and transformers' token ids, fp32 log-probs and greedy tokens.
private struct Golden: Decodable {
    struct Case: Decodable { let text: String; let ids: [Int32]; let logprobs: [Double] }
    struct Greedy: Decodable { let after_text: Int; let ids: [Int32] }
    struct Model: Decodable { let path: String; let cases: [Case]; let greedy: Greedy }
    let models: [String: Model]
}

private struct ChatGolden: Decodable {
    struct Case: Decodable {
        let template: String, messages: [ChatMessage], add_generation_prompt: Bool, text: String, ids: [Int32]
    }
    let templates: [String: String], default_system: [String: String], cases: [Case]
}

final class LanguageModelTests: XCTestCase {
    private func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: ModelFixtures.url("models/golden.json")))
    }

    /// Log-probs of `ids` (the first token is context) under the model's training forward.
    private func logProbs(_ m: LanguageModel, _ ids: [Int32]) throws -> [Float] {
        try noGrad {
            try m.policy.tokenLogProbs(tokens: Array(ids.dropLast()), targets: Array(ids.dropFirst()), batch: 1,
                                       seqLen: ids.count - 1)
        }.array
    }

    private func assertMatches(_ m: LanguageModel, _ g: Golden.Model, _ name: String) throws {
        for c in g.cases {
            XCTAssertEqual(m.tokenizer.encode(c.text), c.ids, "\(name): ids of \(c.text.debugDescription)")
            let lp = try logProbs(m, c.ids)
            let worst = zip(lp, c.logprobs).map { abs(Double($0) - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 2e-5, "\(name): log-probs of \(c.text.debugDescription)")
        }
        let prompt = g.cases[g.greedy.after_text].ids
        let out = try generate(m.policy, [GenerationRequest(prompt: prompt, maxNewTokens: g.greedy.ids.count)],
                               params: SamplingParams(temperature: 0), eos: [], seed: 0)
        XCTAssertEqual(out[0].tokens, g.greedy.ids, "\(name): greedy continuation")
    }

    func testFixturesMatchTransformers() throws {
        let golden = try golden()
        XCTAssertEqual(Set(golden.models.keys), ["tiny-llama", "tiny-qwen2", "tiny-llama3", "tiny-llama.gguf", "tiny-qwen2.gguf"])
        for (name, g) in golden.models.sorted(by: { $0.key < $1.key }) {
            let m = try LanguageModel.load(ModelFixtures.url("models/" + g.path))
            try assertMatches(m, g, name)
        }
    }

    /// What each loader made of its file: the architecture features the fixtures exist to exercise.
    func testFixtureArchitectures() throws {
        let llama = try LanguageModel.load(ModelFixtures.url("models/tiny-llama.gguf")).policy.config
        XCTAssertEqual(llama.architecture, "llama"); XCTAssertEqual(llama.kvHeadCount, 2); XCTAssertTrue(llama.tiedHead)
        let qwen = try LanguageModel.load(ModelFixtures.url("models/tiny-qwen2"))
        XCTAssertTrue(qwen.policy.config.qkvBias); XCTAssertFalse(qwen.policy.config.tiedHead)
        XCTAssertEqual(qwen.policy.config.kvHeadCount, 1)
        XCTAssertEqual(qwen.tokenizer.eos, [384, 386], "config.json's eos and generation_config.json's list")
        let llama3 = try LanguageModel.load(ModelFixtures.url("models/tiny-llama3")).policy.config
        XCTAssertEqual(llama3.headDim, 32); XCTAssertEqual(llama3.attentionDim, 128)
        XCTAssertEqual(llama3.ropeScaling, RopeScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64))
    }

    /// transformers 4 wrote the rope settings as `rope_scaling` + top-level `rope_theta`; same model, same values.
    func testOldRopeScalingSpelling() throws {
        let g = try golden().models["tiny-llama3"]!
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tir-llama3-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: ModelFixtures.url("models/tiny-llama3"), to: dir)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(at: dir.appendingPathComponent("config.rope_scaling.json"),
                                         to: dir.appendingPathComponent("config.json"))
        try assertMatches(try LanguageModel.load(dir), g, "tiny-llama3 (rope_scaling)")
    }

    func testChatTemplatesRenderLikeJinja() throws {
        let golden = try JSONDecoder().decode(ChatGolden.self, from: Data(contentsOf: ModelFixtures.url("models/chat_golden.json")))
        for (name, template) in golden.templates {
            XCTAssertEqual(try ChatFormat(template: template).defaultSystem, golden.default_system[name], name)
        }
        let tokenizers = try ["smollm2", "qwen2"].map { name in
            (name, try LanguageModel.load(ModelFixtures.url(name == "smollm2" ? "models/tiny-llama" : "models/tiny-qwen2")).tokenizer)
        }
        for c in golden.cases {
            let text = try ChatFormat(template: golden.templates[c.template]!).render(c.messages,
                                                                                      addGenerationPrompt: c.add_generation_prompt)
            XCTAssertEqual(text, c.text, "\(c.template): \(c.messages)")
            XCTAssertEqual(tokenizers.first { $0.0 == c.template }!.1.encode(text), c.ids, "\(c.template) ids")
        }
        XCTAssertThrowsError(try ChatFormat(template: "{{ bos_token }}{% for m in messages %}[INST] {{ m.content }}{% endfor %}")) {
            XCTAssertTrue("\($0)".contains("not ChatML"), "\($0)")
        }
    }

    /// A file of the wrong architecture, or one that lacks a tensor, fails with a message naming it.
    func testUnloadableGGUFsAreClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tir-bad-gguf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try GGUFFile(url: ModelFixtures.url("models/tiny-llama.gguf"))
        func rewrite(_ name: String, metadata edit: (inout [(String, GGUFValue)]) -> Void, dropTensor: String? = nil) throws -> URL {
            var metadata = source.keys.filter { $0 != "general.alignment" }.map { ($0, source.metadata[$0]!) }
            edit(&metadata)
            let tensors = try source.tensors.filter { $0.name != dropTensor }.map { t in (t, try source.dequantize(t)) }
            let url = dir.appendingPathComponent(name)
            try withExtendedLifetime(tensors) {
                try GGUFWriter.write(to: url, metadata: metadata, tensors: tensors.map { t, values in
                    (name: t.name, dims: t.shape, type: GGMLType.f32,
                     data: values.withUnsafeBufferPointer { UnsafeBufferPointer(start: $0.baseAddress, count: $0.count) })
                })
            }
            return url
        }
        let gpt2 = try rewrite("gpt2.gguf", metadata: { m in
            m = m.map { $0.0 == "general.architecture" ? ($0.0, .string("gpt2")) : $0 }
        })
        XCTAssertThrowsError(try LanguageModel.load(gpt2)) { XCTAssertTrue("\($0)".contains("architecture 'gpt2' is not supported"), "\($0)") }
        let missing = try rewrite("missing.gguf", metadata: { _ in }, dropTensor: "blk.1.ffn_up.weight")
        XCTAssertThrowsError(try LanguageModel.load(missing)) { XCTAssertTrue("\($0)".contains("missing tensor blk.1.ffn_up.weight"), "\($0)") }
        let truncated = dir.appendingPathComponent("truncated.gguf")
        let bytes = try Data(contentsOf: ModelFixtures.url("models/tiny-llama.gguf"))
        try bytes.prefix(bytes.count - 100).write(to: truncated)
        XCTAssertThrowsError(try LanguageModel.load(truncated)) { XCTAssertTrue("\($0)".contains(truncated.path), "\($0)") }
    }

    /// The real SmolLM2-135M-Instruct GGUF, where present: transformers' ids and log-probs on texts with code,
    /// tool output, Unicode, emoji, CRLF and special tokens, and the greedy chat answer.
    func testRealSmolLM2MatchesTransformers() throws {
        guard let url = ModelFixtures.realModel(ModelFixtures.smolLM2) else {
            throw XCTSkip("SmolLM2 GGUF not present: scripts/get-model.sh smollm2 fetches it")
        }
        let m = try LanguageModel.load(url)
        let lines = try String(contentsOf: ModelFixtures.url("models/smollm2-real-golden.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        XCTAssertGreaterThanOrEqual(lines.count, 6)
        let cases = try lines.map { try JSONDecoder().decode(Golden.Case.self, from: Data($0.utf8)) }
        for c in cases {
            XCTAssertEqual(m.tokenizer.encode(c.text), c.ids, "ids of \(c.text.debugDescription)")
            let worst = zip(try logProbs(m, c.ids), c.logprobs).map { abs(Double($0) - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-4, "log-probs of \(c.text.debugDescription)")
        }
        // An fp32 session of `fp32PanelMinRows` slots (fp32 panels on AVX-512) scores the first 6 tokens of every
        // text in one feed (36 rows a product) like transformers: the full forward's values, summed in another
        // order. (A prefix: the panel tile is slow in a debug build.)
        let prefix = 6, slots = max(WeightFormat.fp32PanelMinRows, cases.count)
        let panels = try DecodeSession(policy: m.policy, slots: slots, maxLen: prefix)
        XCTAssertEqual(panels.packed != nil, Kernels.useAVX512)
        let fed = try panels.feed(cases.enumerated().map { ($0.offset, Array($0.element.ids.prefix(prefix))) },
                                  scoreFedAt: 1).fedLogProbs
        let golden = cases.flatMap { $0.logprobs.prefix(min(prefix, $0.ids.count) - 1) }
        XCTAssertEqual(fed.count, golden.count)
        let worstFed = zip(fed, golden).map { abs(Double($0) - $1) }.max() ?? 0
        XCTAssertLessThan(worstFed, 1e-4, "fp32 session log-probs")
        print("SmolLM2 fp32 session (\(slots) slots) vs transformers fp32: max |dlogp| \(worstFed) over \(fed.count) tokens")
        // A decode session with q8 weights scores the same tokens close to transformers' fp32 (measured here:
        // mean |error| 0.00076 nats per token, max 0.0055; a bf16 session: mean 0.0097, max 0.06).
        let session = try DecodeSession(policy: m.policy, slots: 1, maxLen: cases.map(\.ids.count).max()!, weightFormat: .q8)
        var errors: [Double] = []
        for c in cases {
            session.reset(0)
            errors += zip(try session.feed([(0, c.ids)], scoreFedAt: 1).fedLogProbs, c.logprobs).map { abs(Double($0) - $1) }
        }
        XCTAssertLessThan(errors.reduce(0, +) / Double(errors.count), 0.003, "q8: mean |log-prob error|")
        XCTAssertLessThan(errors.max()!, 0.03, "q8: max |log-prob error|")
        print("SmolLM2 q8 session vs transformers fp32: mean |dlogp| \(errors.reduce(0, +) / Double(errors.count)), max \(errors.max()!) over \(errors.count) tokens")
        let prompt = try m.chatFormat().render([ChatMessage(role: "user", content: "What is the capital of France?")])
        let out = try generate(m.policy, [GenerationRequest(prompt: m.tokenizer.encode(prompt), maxNewTokens: 16)],
                               params: SamplingParams(temperature: 0), eos: m.tokenizer.eos, seed: 0)
        XCTAssertEqual(m.tokenizer.decode(out[0].tokens, skipSpecial: true), "The capital of France is Paris.")
        XCTAssertEqual(out[0].finish, .eos)
        let q8 = try generate(m.policy, [GenerationRequest(prompt: m.tokenizer.encode(prompt), maxNewTokens: 16)],
                              params: SamplingParams(temperature: 0), eos: m.tokenizer.eos, weightFormat: .q8, seed: 0)
        XCTAssertEqual(m.tokenizer.decode(q8[0].tokens, skipSpecial: true), "The capital of France is Paris.")
    }
}
