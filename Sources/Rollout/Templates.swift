/// The text format of an episode (ToRL style, docs/DESIGN.md "The episode format"):
///
///     Question: What is 4817*362-95?\n            <- prompt
///     ```python\nprint(4817*362-95)\n```\n          <- policy: code block (the turn ends at the closing fence)
///     ```output\n1743559\n```\n                     <- runner: observation block (role tool)
///     The answer is \boxed{1743559}.                <- policy: final answer, then EOS (a special token, not text)
///
/// Prompts are short on purpose: the tokenizer is byte-level, every character is a token.
/// Fences are always markdown ``` fences; the language tags are configurable and the turn parser
/// (TurnParsing.swift) reads them from the same struct.
public struct EpisodeFormat: Codable, Sendable, Equatable {
    public var promptPrefix = "Question: "
    public var promptSuffix = "\n"
    public var codeLanguage = "python"
    public var outputLanguage = "output"
    public var answerPrefix = "The answer is \\boxed{"
    public var answerSuffix = "}."

    public init() {}
    public static let standard = EpisodeFormat()

    /// "Question: <question>\n"
    public func prompt(_ question: String) -> String { promptPrefix + question + promptSuffix }

    /// "```python\n<code>\n```\n": what the policy writes; generation of the turn stops after it.
    public func codeBlock(_ code: String) -> String { "```" + codeLanguage + "\n" + code + "\n```\n" }

    /// "```output\n<observation>\n```\n": what the runner inserts after a code block (role tool).
    public func observationBlock(_ observation: String) -> String {
        "```" + outputLanguage + "\n" + observation + "\n```\n"
    }

    /// "The answer is \boxed{<answer>}." (EOS is added by the tokenizer / sampler, not here).
    public func finalAnswer(_ answer: String) -> String { answerPrefix + answer + answerSuffix }

    /// ToRL's stop string: a policy that writes this marker itself has ended its turn.
    public var outputMarker: String { "```" + outputLanguage }

    /// Strings after which the sampler should pause and ask `detectTurnEnd` whether the turn ended: the end
    /// of a closing fence and the output marker. They are candidates only (the same "\n```\n" also closes a
    /// non-python block), so confirm with `detectTurnEnd` before ending the turn.
    public var stopStrings: [String] { ["\n```\n", outputMarker] }
}
