// swift-tools-version:6.0
import PackageDescription
import Foundation

// The binary must not depend on the CPU that builds it. Every x86-64 target is built for haswell (the
// x86-64-v3 level: AVX2 and FMA, the floor of the machines this runs on; FMA turns SIMD multiply-adds into
// single instructions), and TensorAVX512 alone for skylake-avx512; its kernels run only where `Kernels.useAVX512` finds AVX-512 at run
// time. Only a build host without AVX2 gets a generic binary, which then runs anywhere.
#if arch(x86_64)
let buildHostHasAVX2 = ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "avx2 fma")
    .split(separator: "\n").first { $0.hasPrefix("flags") }.map { $0.contains(" avx2") && $0.contains(" fma") } ?? true
let cpuFlags: [SwiftSetting] = buildHostHasAVX2 ? [.unsafeFlags(["-target-cpu", "haswell"])] : []
let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512"])]
#else
let cpuFlags: [SwiftSetting] = []
let avx512Flags: [SwiftSetting] = []
#endif
// -fno-math-errno: on Linux sqrtf may set errno, so `squareRoot()` becomes a libcall that blocks vectorization.
let optimize: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
                                .unsafeFlags(["-Xcc", "-fno-math-errno"])]
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
        .target(name: "TensorAVX512", swiftSettings: avx512Flags + optimize),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "TensorAVX512"], swiftSettings: fast),
        .target(name: "Model", dependencies: ["Tensor"], swiftSettings: fast),
        .target(name: "Sandbox", swiftSettings: fast),
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
