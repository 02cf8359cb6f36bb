import Foundation
import Tensor

/// A chat message.
public struct ChatMessage: Codable, Equatable, Sendable {
    public var role: String       // "system", "user", "assistant"
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// How a model's conversations are written, rendered natively (no Jinja). SmolLM2 and Qwen2 use ChatML:
///
///     <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n
///
/// with the template's own default system prompt when the conversation has none. `ChatFormat(template:)`
/// recognises such a template; any other is an error pointing to the raw prompt format.
public struct ChatFormat: Equatable, Sendable {
    /// What the template inserts when the first message is not a system message (nil: nothing).
    public var defaultSystem: String?
    public var turnStart = "<|im_start|>"
    public var turnEnd = "<|im_end|>"
    /// Qwen2's templates put tool results in a user turn, each wrapped in <tool_response> tags; otherwise a
    /// "tool" message is a turn of its own, like any role.
    public var toolResponsesInUserTurn = false

    public init(defaultSystem: String?, toolResponsesInUserTurn: Bool = false) {
        self.defaultSystem = defaultSystem
        self.toolResponsesInUserTurn = toolResponsesInUserTurn
    }

    /// Recognises a ChatML Jinja template (tokenizer_config.json `chat_template`, GGUF `tokenizer.chat_template`)
    /// and takes its default system prompt from it.
    public init(template: String) throws {
        guard template.contains("<|im_start|>"), template.contains("<|im_end|>") else {
            throw TensorError("the model's chat template is not ChatML, the only chat format SwiftTIR renders; "
                              + "use a raw prompt instead (no --chat)")
        }
        // The default system prompt sits in a string literal, '<|im_start|>system\nTEXT<|im_end|>\n'; other
        // occurrences build the turn from the conversation's own system message (not a pure literal).
        var system: String?
        var from = template.startIndex
        while system == nil, let r = template.range(of: "<|im_start|>system", range: from..<template.endIndex) {
            from = r.upperBound
            guard let end = template.range(of: "<|im_end|>", range: r.upperBound..<template.endIndex) else { break }
            var text = String(template[r.upperBound..<end.lowerBound])
            if text.hasPrefix("\\n") { text.removeFirst(2) } else if text.hasPrefix("\n") { text.removeFirst() } else { continue }
            if !text.contains("{") && !text.contains("'") && !text.contains("\"") && !text.contains("+") {
                system = text.replacingOccurrences(of: "\\n", with: "\n")
            }
        }
        self.init(defaultSystem: system, toolResponsesInUserTurn: template.contains("<tool_response>"))
    }

    /// The prompt text of `messages`; with `addGenerationPrompt` it ends where the assistant's answer begins.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        if let s = defaultSystem, messages.first?.role != "system" {
            out += "\(turnStart)system\n\(s)\(turnEnd)\n"
        }
        for (i, m) in messages.enumerated() {
            if m.role == "tool" && toolResponsesInUserTurn {
                if i == 0 || messages[i - 1].role != "tool" { out += "\(turnStart)user" }
                out += "\n<tool_response>\n\(m.content)\n</tool_response>"
                if i == messages.count - 1 || messages[i + 1].role != "tool" { out += "\(turnEnd)\n" }
            } else {
                out += "\(turnStart)\(m.role)\n\(m.content)\(turnEnd)\n"
            }
        }
        if addGenerationPrompt { out += "\(turnStart)assistant\n" }
        return out
    }
}
