// swift-tools-version:6.0
import PackageDescription
import Foundation

// The binary must not depend on the CPU that builds it. Every x86-64 target is built for haswell (the
// x86-64-v3 level: AVX2 and FMA, the floor of the machines this runs on; FMA turns SIMD multiply-adds into
// single instructions), and TensorAVX512 alone for skylake-avx512; its kernels run only where
// `Kernels.useAVX512` finds AVX-512 at run time. Only a build host without AVX2 gets a generic binary, which then runs anywhere.
#if arch(x86_64)
let buildHostHasAVX2 = ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "avx2 fma")
    .split(separator: "\n").first { $0.hasPrefix("flags") }.map { $0.contains(" avx2") && $0.contains(" fma") } ?? true
let cpuFlags: [SwiftSetting] = buildHostHasAVX2 ? [.unsafeFlags(["-target-cpu", "haswell"])] : []
let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512"])]
let cCPUFlags: [CSetting] = buildHostHasAVX2 ? [.unsafeFlags(["-march=haswell"])] : []
#else
let cpuFlags: [SwiftSetting] = []
let avx512Flags: [SwiftSetting] = []
let cCPUFlags: [CSetting] = []
#endif
// -fno-math-errno: on Linux sqrtf may set errno, so `squareRoot()` becomes a libcall that blocks vectorization.
let mathFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-fno-math-errno"])]
// Release builds of the tensor targets (kernels, decode loops) drop bounds checks and preconditions; every other
// target keeps them (plain -O), so the sandbox, the parsers and the CLI still trap on a broken invariant.
let unchecked: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
let tensorSettings = cpuFlags + unchecked + mathFlags
let checked = cpuFlags + mathFlags
// Swift 6 language mode: data-race checking (strict concurrency) for the targets that have been through it.
let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "SwiftTIR",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Model", targets: ["Model"]),
        .library(name: "Distributed", targets: ["Distributed"]),
        .library(name: "Sandbox", targets: ["Sandbox"]),
        .library(name: "Rollout", targets: ["Rollout"]),
        .library(name: "ToyWorld", targets: ["ToyWorld"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "GRPO", targets: ["GRPO"]),
        .library(name: "Pretrain", targets: ["Pretrain"]),
        .library(name: "Experiments", targets: ["Experiments"]),
        .executable(name: "tir", targets: ["tir"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        // MPI (Open MPI or MPICH, whichever Debian's `mpi` alternative points at), used only by Distributed.
        .systemLibrary(name: "CMPI", pkgConfig: "mpi", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .target(name: "Distributed", dependencies: ["CMPI"], swiftSettings: checked + swift6),
        .target(name: "TensorAVX512", dependencies: ["CCPUID"], swiftSettings: avx512Flags + unchecked + mathFlags),
        // CPUID and XGETBV (Swift cannot emit them): the CPU features that choose kernels at run time; and a
        // prefetch hint for the decode kernels.
        .target(name: "CCPUID"),
        // q8 blocks (8-bit weights times 15-bit activations, integer dot products) for decode steps: C, because Swift
        // cannot emit vpdpbusd; the AVX512-VNNI and AVX2 kernels are compiled per function and run only where
        // `Q8Kernel.best` finds them.
        .target(name: "CQ8", cSettings: cCPUFlags + [.unsafeFlags(["-O3"])]),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CCPUID", "CQ8", "TensorAVX512"], swiftSettings: tensorSettings),
        .target(name: "Model", dependencies: ["Tensor"], swiftSettings: tensorSettings),
        .target(name: "Sandbox", exclude: ["fork_server.py"], swiftSettings: checked + swift6),
        // Episodes: engine, format, turn parsing, answers, rewards, task sources. Runs code through the
        // `CodeExecutor` protocol; it knows neither the sandbox nor the toy world.
        .target(name: "Rollout", dependencies: ["Model"], swiftSettings: checked + swift6),
        // The bridge that lets the sandbox pool run the episode engine's code (used by tir and the tests).
        .target(name: "SandboxExecutor", dependencies: ["Rollout", "Sandbox"], swiftSettings: checked + swift6),
        .target(name: "ToyWorld", dependencies: ["Rollout"], swiftSettings: checked + swift6),
        // What every trainer shares: resumable training checkpoints, LR schedules, the config error.
        .target(name: "Training", dependencies: ["Model"], swiftSettings: checked + swift6),
        .target(name: "GRPO", dependencies: ["Rollout", "Training", "Distributed"], swiftSettings: checked + swift6),
        .target(name: "Pretrain", dependencies: ["ToyWorld", "Training"], swiftSettings: checked + swift6),
        .target(name: "Experiments", dependencies: ["GRPO", "Pretrain"], swiftSettings: checked + swift6),
        .executableTarget(name: "tir", dependencies: [
            "Experiments", "SandboxExecutor", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: checked),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModelTests", dependencies: ["Model"], exclude: ["Fixtures"]),   // found by #filePath
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox"]),
        .testTarget(name: "RolloutTests", dependencies: ["Rollout", "SandboxExecutor"]),
        .testTarget(name: "ToyWorldTests", dependencies: ["ToyWorld"]),
        .testTarget(name: "GRPOTests", dependencies: ["GRPO", "ToyWorld"]),
        .testTarget(name: "PretrainTests", dependencies: ["Pretrain"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Experiments", "SandboxExecutor"]),
    ],
    swiftLanguageModes: [.v5]
)
