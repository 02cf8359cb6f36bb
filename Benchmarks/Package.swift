// swift-tools-version:6.0
import PackageDescription
import Foundation

// Kernel and end-to-end benchmarks, kept out of the root package so the main build stays lean.
// Run: cd Benchmarks && swift run -c release kernel-bench [--threads N] [--filter TEXT]... [--quick | --budget S]

// Same code-generation flags as the root package's tensor targets, so the figures describe what it ships.
#if arch(x86_64)
let cpuFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let cpuFlags: [SwiftSetting] = []
#endif
let fast: [SwiftSetting] = cpuFlags + [.unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
                                       .unsafeFlags(["-Xcc", "-fno-math-errno"])]

let package = Package(
    name: "SwiftTIRBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "SwiftTIR", path: ".."),
    ],
    targets: [
        // Raw cblas for the reference column (the root's COpenBLAS target is not a product).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .executableTarget(name: "kernel-bench", dependencies: [
            "CBLAS", .product(name: "Tensor", package: "SwiftTIR"),
        ], swiftSettings: fast),
    ],
    swiftLanguageModes: [.v5]
)
