// swift-tools-version:6.0
import PackageDescription
import Foundation

// FMA/AVX2 turn SIMD multiply-adds into single instructions (DESIGN.md: 3.3 ms -> 0.12 ms for a 1M dot).
// Only enable them when this CPU has them, so a build never produces illegal instructions.
let cpuInfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
let hasAVX2 = cpuInfo.contains(" avx2") && cpuInfo.contains(" fma")
let cpuFlags: [SwiftSetting] = hasAVX2 ? [.unsafeFlags(["-target-cpu", "haswell"])] : []
// With AVX-512 (F, BW, DQ, VL), the TensorAVX512 module alone targets skylake-avx512 (the baseline of every
// AVX-512 CPU) and TIR_AVX512 turns on its few-row decode kernel. Only that module: the training kernels
// built for this target ran about 10% slower.
let hasAVX512 = hasAVX2 && ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy { cpuInfo.contains(" " + $0) }
let avx512Define: [SwiftSetting] = hasAVX512 ? [.define("TIR_AVX512")] : []
let avx512Flags: [SwiftSetting] = hasAVX512 ? [.unsafeFlags(["-target-cpu", "skylake-avx512"])] : []
// -fno-math-errno: on Linux sqrtf may set errno, so `squareRoot()` becomes a libcall that blocks vectorization.
let optimize: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
                                .unsafeFlags(["-Xcc", "-fno-math-errno"])] + avx512Define
let fast = cpuFlags + optimize

let package = Package(
    name: "SwiftTIR",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Model", targets: ["Model"]),
        .library(name: "Sandbox", targets: ["Sandbox"]),
        .library(name: "Rollout", targets: ["Rollout"]),
        .library(name: "GRPO", targets: ["GRPO"]),
        .executable(name: "tir", targets: ["tir"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .target(name: "TensorAVX512", swiftSettings: (hasAVX512 ? avx512Flags : cpuFlags) + optimize),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "TensorAVX512"], swiftSettings: fast),
        .target(name: "Model", dependencies: ["Tensor"], swiftSettings: fast),
        .target(name: "Sandbox", exclude: ["fork_server.py"], swiftSettings: fast),
        .target(name: "Rollout", dependencies: ["Model", "Sandbox"], swiftSettings: fast),
        .target(name: "GRPO", dependencies: ["Rollout"], swiftSettings: fast),
        .executableTarget(name: "tir", dependencies: [
            "GRPO", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModelTests", dependencies: ["Model"]),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox"]),
        .testTarget(name: "RolloutTests", dependencies: ["Rollout"]),
        .testTarget(name: "GRPOTests", dependencies: ["GRPO"]),
        .testTarget(name: "EndToEndTests", dependencies: ["GRPO"]),
    ],
    swiftLanguageModes: [.v5]
)
