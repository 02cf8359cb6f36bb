// swift-tools-version:6.0
import PackageDescription

// libFuzzer harnesses for the parsers that take untrusted input, kept out of the root package so the main
// build and tests never pay for them. Each executable defines `LLVMFuzzerTestOneInput`; libFuzzer supplies main.
// Build and run them with scripts/fuzz.sh (swift build -c debug --sanitize=fuzzer --sanitize=address).
let package = Package(
    name: "SwiftTIRFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "SwiftTIR", path: ".."),
    ],
    targets: [
        // What every harness shares: the input split, temp files, the invariant check.
        .target(name: "FuzzSupport", path: "Sources/FuzzSupport"),
        .executableTarget(name: "fuzz-safetensors", dependencies: [
            "FuzzSupport", .product(name: "Tensor", package: "SwiftTIR"),
        ], path: "Sources/safetensors"),
        .executableTarget(name: "fuzz-gguf", dependencies: [
            "FuzzSupport", .product(name: "Model", package: "SwiftTIR"), .product(name: "Tensor", package: "SwiftTIR"),
        ], path: "Sources/gguf"),
        .executableTarget(name: "fuzz-tokenizer", dependencies: [
            "FuzzSupport", .product(name: "Model", package: "SwiftTIR"), .product(name: "Tensor", package: "SwiftTIR"),
        ], path: "Sources/tokenizer"),
        .executableTarget(name: "fuzz-hfconfig", dependencies: [
            "FuzzSupport", .product(name: "Model", package: "SwiftTIR"), .product(name: "Tensor", package: "SwiftTIR"),
        ], path: "Sources/hfconfig"),
        .executableTarget(name: "fuzz-config", dependencies: [
            "FuzzSupport", .product(name: "GRPO", package: "SwiftTIR"), .product(name: "Model", package: "SwiftTIR"),
        ], path: "Sources/config"),
        .executableTarget(name: "fuzz-jsonl", dependencies: [
            "FuzzSupport", .product(name: "Rollout", package: "SwiftTIR"),
        ], path: "Sources/jsonl"),
        .executableTarget(name: "fuzz-turns", dependencies: [
            "FuzzSupport", .product(name: "Rollout", package: "SwiftTIR"),
        ], path: "Sources/turns"),
        .executableTarget(name: "fuzz-answers", dependencies: [
            "FuzzSupport", .product(name: "Rollout", package: "SwiftTIR"),
        ], path: "Sources/answers"),
    ],
    swiftLanguageModes: [.v5]
)
