import Foundation
import FuzzSupport
import Model
import Tensor

// HFConfig.read (what loading a Hugging Face checkpoint directory calls on config.json) on arbitrary bytes: it
// either throws a TensorError naming the file, or returns a config that validate() accepts, with finite numbers,
// whose parameters (parameterLayout, what Policy(config:) would allocate; not allocated here) have positive dims
// and element counts that neither overflow nor exceed the largest tensor validate means to allow (an embedding of
// 2^20 rows x 2^14), and that config.json written back by HFConfig.encode reads again unchanged, special tokens
// included. HFConfig.generationEOS (generation_config.json) on the same bytes must not crash.
private let largestTensor = (1 << 20) * (1 << 14)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHFConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Data(inputBytes(data, size))
    _ = HFConfig.generationEOS(bytes)
    guard case let (config, special)? = parsedOrRejected(TensorError.self, prefix: "config.json: ", {
        try HFConfig.read(bytes, path: "config.json")
    }) else { return 0 }
    note("read: \(config), \(special)")
    do { try config.validate() } catch { require(false, "read returned a config that validate rejects: \(error)") }
    let numbers = [config.ropeTheta, config.normEps] + (config.ropeScaling.map {
        [$0.factor, $0.lowFreqFactor, $0.highFreqFactor]
    } ?? [])
    require(numbers.allSatisfy(\.isFinite), "a number that is not finite: \(config)")

    var total = 0
    for (name, shape) in config.parameterLayout {
        require(!shape.isEmpty && shape.allSatisfy { $0 > 0 }, "\(name) has shape \(shape)")
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            require(!overflow, "\(name) \(shape): the element count overflows")
            count = product
        }
        require(count <= largestTensor, "\(name) \(shape): \(count) elements, more than the largest embedding validate allows")
        let (sum, overflow) = total.addingReportingOverflow(count)
        require(!overflow, "the parameter count overflows at \(name)")
        total = sum
    }
    require(!total.multipliedReportingOverflow(by: MemoryLayout<Float>.size).overflow, "\(total) parameters: bytes overflow")

    do {
        let written = try HFConfig.encode(config, special: special)
        let (again, againSpecial) = try HFConfig.read(written, path: "config.json")
        require(again == config, "config.json written back reads as \(again), not \(config)")
        require(againSpecial == special, "special tokens written back read as \(againSpecial), not \(special)")
    } catch {
        require(false, "a config read cannot be written and read back: \(error)")
    }
    return 0
}
