import ArgumentParser
import Foundation
import Model
import Training

/// `tir export`: a model (a tir run, a Hugging Face directory or a GGUF file) written where users serve models.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model as a Hugging Face directory (transformers) or a GGUF file (llama.cpp).",
        discussion: "--out ending in .gguf writes GGUF v3 (matrices in --type, norms and biases F32, the tokenizer "
            + "and chat template as metadata); any other --out is a Hugging Face directory (config.json, "
            + "model.safetensors in fp32, tokenizer.json, tokenizer_config.json with the chat template, "
            + "generation_config.json).")

    @Option(help: "A tir run or checkpoint, a Hugging Face directory or a .gguf file.") var checkpoint: String
    @Option(help: "Where to write: a directory, or a file ending in .gguf.") var out: String
    @Option(help: "GGUF matrix type: f32 or f16.") var type = "f32"
    @Flag(help: "Replace --out if it exists.") var force = false

    func run() throws {
        let ggmlType: GGMLType
        switch type {
        case "f32": ggmlType = .f32
        case "f16": ggmlType = .f16
        default: throw ValidationError("--type must be f32 or f16, got \(type)")
        }
        let target = url(out)
        if FileManager.default.fileExists(atPath: target.path) && !force {
            throw ValidationError("\(out) exists; pass --force to replace it")
        }
        let model = try loadModel(url(checkpoint))
        if out.hasSuffix(".gguf") {
            try ModelExport.writeGGUF(model, to: target, type: ggmlType)
        } else {
            try ModelExport.writeHuggingFace(model, to: target)
        }
        Status.info("wrote \(target.path)")
    }
}
