import Foundation
import FuzzSupport
import Tensor

// SafeTensors.read on arbitrary bytes: it either throws a TensorError naming the file, or returns tensors
// whose values match their shapes; those tensors written back and read again are the same bits.
private let input = ScratchFile("in.safetensors")
private let roundTrip = ScratchFile("rt.safetensors")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    let url = input.write(bytes)
    guard case let (entries, metadata)? = parsedOrRejected(TensorError.self, prefix: "safetensors \(url.path): ", {
        try SafeTensors.read(url)
    }) else { return 0 }
    note("read: " + entries.values.map { "\($0.name) \($0.shape)" }.sorted().joined(separator: ", ") + "; metadata \(metadata)")
    // The tensors must fit the data section (each value takes at least 2 bytes) and match their shapes.
    let headerLength = bytes.count >= 8 ? Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) : 0
    let dataBytes = bytes.count - 8 - headerLength
    var totalValues = 0
    for (name, e) in entries {
        require(e.name == name && name != "__metadata__", "entry keyed '\(name)' is named '\(e.name)'")
        require(e.shape.allSatisfy { $0 >= 0 } && e.shape.reduce(1, *) == e.values.count,
                "'\(name)': shape \(e.shape) with \(e.values.count) values")
        totalValues += e.values.count
    }
    require(2 * totalValues <= dataBytes, "\(totalValues) values from a data section of \(dataBytes) bytes")

    // Write back as F32 and read again: the same names, shapes, values (bit for bit) and metadata.
    let sorted = entries.values.sorted { $0.name < $1.name }
    do {
        try withBuffers(sorted.map(\.values)) { buffers in
            try SafeTensors.write(zip(sorted, buffers).map { ($0.name, $0.shape, $1) }, metadata: metadata, to: roundTrip.url)
        }
        let (again, metadataAgain) = try SafeTensors.read(roundTrip.url)
        require(metadataAgain == metadata, "metadata changed on a round trip")
        require(Set(again.keys) == Set(entries.keys), "names changed on a round trip")
        for (name, e) in entries {
            let a = again[name]!
            require(a.shape == e.shape && a.values.map(\.bitPattern) == e.values.map(\.bitPattern),
                    "'\(name)' changed on a round trip")
        }
    } catch {
        require(false, "what read returned cannot be written and read back: \(error)")
    }
    return 0
}

/// Calls `body` with a buffer pointer for each array (all alive for the duration of the call).
private func withBuffers<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
    func go(_ i: Int, _ acc: [UnsafeBufferPointer<Float>]) throws -> R {
        if i == arrays.count { return try body(acc) }
        return try arrays[i].withUnsafeBufferPointer { try go(i + 1, acc + [$0]) }
    }
    return try go(0, [])
}
