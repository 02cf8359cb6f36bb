import Model

/// How a task's question becomes the text the policy continues.
///
/// - The toy policy (no chat format): `EpisodeFormat.prompt`, "Question: <question>\n".
/// - A chat model: its chat format renders the user turn, the question followed by an instruction that
///   states the tool convention (as ToRL's prompt does), after the template's default system turn and up to
///   the start of the assistant's turn:
///
///       <|im_start|>system\n<default>\n<|im_end|>\n<|im_start|>user\n<question>\n<instruction><|im_end|>\n<|im_start|>assistant\n
///
///   (Small chat models follow an instruction in the user turn far more often than one in the system turn.)
///   Code blocks, observations and the final answer all stay inside the assistant's turn (as in ToRL and
///   SimpleTIR), which the model ends with its end-of-turn token (an EOS id).
public struct PromptTemplate: Sendable, Equatable {
    /// nil: the raw toy format.
    public var chat: ChatFormat?
    /// Follows the question in the user turn of a chat prompt.
    public var instruction: String

    public init(chat: ChatFormat?, instruction: String) {
        self.chat = chat
        self.instruction = instruction
    }

    public static let raw = PromptTemplate(chat: nil, instruction: "")

    /// The chat template of `model` with the instruction of `config` (its own, or the built-in one of its
    /// observation style); the raw format for a model without a chat template (the toy policy, base models).
    public init(model: LanguageModel, config: RolloutConfig) throws {
        guard model.chatTemplate != nil else { self = .raw; return }
        self.init(chat: try model.chatFormat(),
                  instruction: config.instruction.isEmpty ? Self.defaultInstruction(config.observationStyle) : config.instruction)
    }

    public func text(question: String, format: EpisodeFormat) -> String {
        guard let chat else { return format.prompt(question) }
        return chat.render([ChatMessage(role: "user", content: question + "\n" + instruction)])
    }

    /// The convention a chat model is told: write a python block that prints, read the output, box the answer.
    public static func defaultInstruction(_ style: ObservationStyle) -> String {
        let shown: String
        switch style {
        case .torl: shown = "in an ```output block"
        case .simpletir: shown = "after \"\(ObservationStyle.simpleTIRPrefix.dropLast())\""
        }
        return "Write a Python code block that prints the answer; its output will be shown to you \(shown). "
            + "Then write the final answer as \\boxed{ANSWER}."
    }
}
