// swift-tools-version:6.0
import PackageDescription
import Foundation

// Kernel and end-to-end benchmarks, kept out of the root package so the main build stays lean.
// Run: cd Benchmarks && swift run -c release kernel-bench [--threads N] [--filter TEXT] [--quick]

// Same code-generation flags as the root package, so the figures describe what the project ships.
let cpuFlags: [SwiftSetting] = {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          info.contains(" avx2"), info.contains(" fma") else { return [] }
    return [.unsafeFlags(["-target-cpu", "haswell"])]
}()
let fast: [SwiftSetting] = cpuFlags + [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

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
