import Foundation
import ArgumentParser
import Experiments
import GRPO
import Model
import Rollout
import Training

extension ExperimentInstability {
    /// `--probe`: the base's preconditions in ToRL's and SimpleTIR's formats, each one rollout batch of 8 x 8 under
    /// the real-model setup (`InstabilitySweep.realSized`, naive multi-turn arm), into <out>/probe-<format>.json
    /// (reused when the base and config are the same) and <out>/PROBE.md.
    func runProbe() async throws {
        try requireOneProcess("tir experiment instability --probe")
        for o in overrides {
            let key = GRPOConfig.schema.canonical(String(o.prefix { $0 != "=" }))
            if key == "rollout.observationStyle" || key == "seed" {
                throw ValidationError("--probe measures both observation styles at seed 1: --set \(key) does not apply")
            }
        }
        let outDir = url(out)
        try makeDirectory(outDir)
        let (base, _) = try mainBase(outDir: outDir)
        let fingerprint = try checkpointFingerprint(try resolveCheckpoint(base))
        var shared = InstabilitySweep.realSized(steps: 1)
        shared.promptsPerStep = 8
        shared.groupSize = 8
        if !overrides.isEmpty { shared = try GRPOConfig.load(json: Data(), overrides: overrides, over: shared) }
        let pool = try makeSandbox(shared.sandbox)
        defer { pool.shutdown() }
        var probes: [(label: String, probe: BaseProbe)] = []
        var configText = ""
        for style in ObservationStyle.allCases {
            var c = shared
            c.rollout.observationStyle = style
            c = ExperimentArm.correctionArms(multiTurnCalls: multiTurnCalls)[0].config(shared: c)
            c.seed = 1
            let file = outDir.appendingPathComponent("probe-\(style.rawValue).json")
            let source = "\(fingerprint) \(String(CRC32C.checksum(Array(c.json.utf8)), radix: 16))"
            configText = c.json
            if let saved = BaseProbe.read(file), saved.source == source {
                probes.append((style.rawValue, saved))
                continue
            }
            Status.info("probing \(base.lastPathComponent) in \(style.rawValue)'s format: \(c.promptsPerStep) x \(c.groupSize) trajectories")
            let t0 = Date()
            var p = try await BaseProbe.measure(base: base, config: c, tasks: BuiltinTasks(c.tasks, seed: 1, byteLevel: isByteLevel(base)).train,
                                                executor: pool)
            p.source = source
            try p.write(to: file)
            Status.info(String(format: "  %.1f minutes", Date().timeIntervalSince(t0) / 60))
            probes.append((style.rawValue, p))
        }
        let report = """
        # Preconditions probe: \(base.lastPathComponent)

        Command: `tir \(CommandLine.arguments.dropFirst().joined(separator: " "))`

        One rollout batch of step 0 (seed 1) per format, sampled as SimpleTIR's setup for real models samples
        (`InstabilitySweep.realSized`: temperature 1, up to \(multiTurnCalls) tool calls, bf16 weights and KV cache in the
        sampler), then read by the fp32 trainer. Accuracy uses the \\boxed{} rule.

        \(probeMarkdown(probes))
        """ + (configText.isEmpty ? "" : "\nThe config (last format):\n\n```json\n\(configText)\n```\n")
        try Data(report.utf8).write(to: outDir.appendingPathComponent("PROBE.md"), options: .atomic)
        print(report)
    }
}
