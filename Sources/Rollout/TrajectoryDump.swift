import Model

extension Trajectory {
    /// A readable dump for debugging: a header line, then the text with role changes marked as
    /// «prompt», «policy» and «tool», and one line per turn.
    public func dump(tokenizer: any TextTokenizer = ByteTokenizer()) -> String {
        var out = "task \(taskId) group \(group): finish \(finish.rawValue), tool calls \(toolCalls), "
            + "answer \(answer ?? "none"), correct \(correct), reward \(reward)\n"
        var start = 0
        while start < tokens.count {
            var end = start
            while end < tokens.count && roles[end] == roles[start] { end += 1 }
            out += "«\(roles[start])»" + tokenizer.render(Array(tokens[start..<end]))
            start = end
        }
        out += "\n"
        for (i, t) in turns.enumerated() {
            out += "turn \(i): policy tokens \(t.policyRange), code \(t.hasCode), answer \(t.hasAnswer), "
                + "void \(t.isVoid), execution \(t.execution.rawValue)"
                + (t.observationRange.map { ", observation \($0)" } ?? "") + "\n"
        }
        return out
    }
}
