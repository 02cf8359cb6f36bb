import Foundation
import FuzzSupport
import Model
import Tensor

// GGUFFile(url:) on arbitrary bytes: it either throws a TensorError naming the file, or returns tensors that lie
// inside the file at aligned offsets with sizes that match their dims and types. Every tensor of a supported type
// dequantizes (also by row ranges, to the same bits); the others throw an error naming their type. The metadata
// and the dequantized tensors written back with GGUFWriter (as F32) read again the same, bit for bit.
private let input = ScratchFile("in.gguf")
private let roundTrip = ScratchFile("rt.gguf")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    let url = input.write(bytes)
    guard let file = parsedOrRejected(TensorError.self, prefix: "GGUF \(url.path): ", { try GGUFFile(url: url) }) else {
        return 0
    }
    note("read: v\(file.version), keys \(file.keys), tensors " + file.tensors.map { "\($0.name) \($0.type.name) \($0.dims)" }.joined(separator: ", "))
    require(file.fileSize == bytes.count, "file size \(file.fileSize), input \(bytes.count)")
    require(file.keys.count == file.metadata.count && Set(file.keys) == Set(file.metadata.keys), "keys and metadata differ")
    require(file.alignment > 0 && file.dataOffset % file.alignment == 0, "data offset \(file.dataOffset), alignment \(file.alignment)")
    require(Set(file.tensors.map(\.name)).count == file.tensors.count, "duplicate tensor names")

    var values: [[Float]] = []
    for t in file.tensors {
        require((1...4).contains(t.dims.count) && t.dims.allSatisfy { $0 >= 0 }, "'\(t.name)' dims \(t.dims)")
        require(t.elementCount == (t.dims.contains(0) ? 0 : t.dims.reduce(1, *)), "'\(t.name)' dims \(t.dims), \(t.elementCount) elements")
        require(t.dims[0] % t.type.blockSize == 0, "'\(t.name)': rows not whole blocks")
        require(t.byteCount == t.elementCount / t.type.blockSize * t.type.bytesPerBlock, "'\(t.name)' byte count \(t.byteCount)")
        require(t.offset >= file.dataOffset && (t.offset - file.dataOffset) % file.alignment == 0, "'\(t.name)' offset \(t.offset)")
        require(t.offset + t.byteCount <= bytes.count, "'\(t.name)' runs past the end")
        require(file.tensor(named: t.name) == t, "tensor(named:) differs")
        guard t.type.canDequantize else {
            do {
                _ = try file.dequantize(t)
                require(false, "'\(t.name)' of type \(t.type.name) dequantized")
            } catch let e as TensorError {
                require(e.message.contains("has type \(t.type.name) (id \(t.type.rawValue)), which SwiftTIR cannot dequantize"), e.message)
            } catch {
                require(false, "dequantize threw \(error)")
            }
            continue
        }
        do {
            let all = try file.dequantize(t)
            require(all.count == t.elementCount, "'\(t.name)': \(all.count) values")
            if t.rowCount > 1 && t.rowLength > 0 {
                var tail = [Float](repeating: 0, count: (t.rowCount - 1) * t.rowLength)
                try tail.withUnsafeMutableBufferPointer { try file.dequantize(t, rows: 1..<t.rowCount, into: $0.baseAddress!) }
                require(tail.map(\.bitPattern) == all[t.rowLength...].map(\.bitPattern), "'\(t.name)': rows 1... differ")
            }
            values.append(all)
        } catch {
            require(false, "'\(t.name)' (\(t.type.name)) did not dequantize: \(error)")
        }
    }

    // Write back (metadata as read, supported tensors as F32) and read again.
    let kept = file.tensors.filter { $0.type.canDequantize }
    do {
        try withBuffers(values) { buffers in
            try GGUFWriter.write(to: roundTrip.url, metadata: file.keys.map { ($0, file.metadata[$0]!) },
                                 tensors: zip(kept, buffers).map { ($0.name, $0.shape, .f32, $1) })
        }
        let again = try GGUFFile(url: roundTrip.url)
        require(again.keys == file.keys, "keys changed on a round trip")
        for k in file.keys {
            require(sameBits(again.metadata[k]!, file.metadata[k]!), "'\(k)' changed on a round trip")
        }
        require(again.tensors.map(\.name) == kept.map(\.name) && again.tensors.map(\.dims) == kept.map(\.dims),
                "tensors changed on a round trip")
        for (t, v) in zip(again.tensors, values) {
            require(try again.dequantize(t).map(\.bitPattern) == v.map(\.bitPattern), "'\(t.name)' values changed on a round trip")
        }
    } catch {
        require(false, "what the reader returned cannot be written and read back: \(error)")
    }
    return 0
}

/// Equal, with floats compared by their bits (NaN equals itself, -0 differs from 0).
private func sameBits(_ a: GGUFValue, _ b: GGUFValue) -> Bool {
    switch (a, b) {
    case (.f32(let x), .f32(let y)): return x.bitPattern == y.bitPattern
    case (.float(let x), .float(let y)): return x.bitPattern == y.bitPattern
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { sameBits($0, $1) }
    default: return a == b
    }
}

/// Calls `body` with a buffer pointer for each array (all alive for the duration of the call).
private func withBuffers<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
    func go(_ i: Int, _ acc: [UnsafeBufferPointer<Float>]) throws -> R {
        if i == arrays.count { return try body(acc) }
        return try arrays[i].withUnsafeBufferPointer { try go(i + 1, acc + [$0]) }
    }
    return try go(0, [])
}
