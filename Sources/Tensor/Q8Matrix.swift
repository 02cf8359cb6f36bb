import Foundation
import CQ8

/// The kernel `Q8Matrix` runs its products with: all three give the same bits (the same integer sums, then the
/// same fp32 operations in the same order).
public enum Q8Kernel: Int32, Sendable {
    /// Plain C loops: any CPU, about 20 times slower than the VNNI kernel and slower than fp32.
    case plain = 0   // CQ8_PLAIN
    /// AVX512-VNNI's vpdpbusd: 64 byte multiply-adds per instruction.
    case vnni = 1    // CQ8_VNNI
    /// AVX2's vpmaddwd on weights widened to int16: 16 multiply-adds per instruction.
    case avx2 = 2    // CQ8_AVX2

    /// The best this CPU runs: VNNI where it has AVX512-VNNI and AVX-512 is on (`Kernels.useAVX512`, so
    /// TIR_NO_AVX512=1 turns it off), else AVX2 where it has AVX2 and FMA, else plain C.
    public static var best: Q8Kernel {
        #if arch(x86_64)
        if Kernels.useAVX512 && CPUFeatures.current.hasAVX512VNNI { return .vnni }
        if CPUFeatures.current.hasAVX2 { return .avx2 }
        #endif
        return .plain
    }
}

extension Kernels {
    /// The kernel `Q8Matrix` runs (`Q8Kernel.best`). Set it only at start-up or in tests, while no kernel runs.
    nonisolated(unsafe) public static var q8Kernel: Q8Kernel = .best
}

/// A weight matrix W [outDim, inDim] in q8 blocks, for decode steps (the `q8` weight format): per output
/// feature and block of 32 inputs, 8-bit codes q with a scale d and a minimum m (w ~ d q + m, max error d / 2 =
/// (max - min) / 510 of the block). A product quantizes each row of x to 15 bits per block of 32
/// (x ~ s v, max error max |x| / 32766), sums q v in integers (vpdpbusd: 64 multiply-adds of bytes per
/// instruction; two per quad, for v's high and low bytes; or AVX2's vpmaddwd), then scales the sums in fp32
/// (`cq8.h` has the algebra). 1.25 bytes per weight: with SmolLM2, 169 MB a step streams against bf16's 269 MB.
///
/// Each block takes min/max codes or symmetric ones (d = max |w| / 127), whichever lands closer: Q4_1 blocks
/// (16 levels from min to max: every 17th code) and Q8_0 blocks (multiples of max |w| / 127) round-trip exactly
/// up to fp32 rounding; other weights (other quantized types, trained weights) move by up to half a step.
public final class Q8Matrix {
    public let outDim: Int, inDim: Int
    let panels: Int, blocks: Int
    private let storage: UnsafeMutablePointer<UInt8>

    public init(outDim: Int, inDim: Int) throws {
        guard outDim > 0, inDim > 0, outDim <= Int(Int32.max) - 15, inDim <= Int(Int32.max) - 31 else {
            throw TensorError("Q8Matrix needs 0 < outDim, inDim < 2^31 (got \(outDim) x \(inDim))")
        }
        self.outDim = outDim; self.inDim = inDim
        panels = (outDim + 15) / 16
        blocks = (inDim + 31) / 32
        storage = UnsafeMutableRawPointer.allocate(byteCount: cq8_weight_bytes(Int32(outDim), Int32(inDim)), alignment: 64)
            .bindMemory(to: UInt8.self, capacity: cq8_weight_bytes(Int32(outDim), Int32(inDim)))
    }

    deinit { storage.deallocate() }

    /// Bytes a product streams.
    public var byteCount: Int { cq8_weight_bytes(Int32(outDim), Int32(inDim)) }

    /// Quantizes W [outDim, inDim] (row-major) in, in parallel over panels of 16 features.
    public func fill(from w: UnsafePointer<Float>) {
        let outDim = Int32(outDim), inDim = Int32(inDim), storage = storage, kernel = Kernels.q8Kernel.rawValue
        parallelFor(panels) { range in
            cq8_pack_weights(w, outDim, inDim, Int32(range.lowerBound), Int32(range.upperBound), storage, kernel)
        }
    }

    /// out[rows, outDim] = x[rows, inDim] Wᵀ + beta * out (x with row stride lda; beta 0 ignores out's old
    /// contents): x quantized (in parallel over 4-row groups), then the product in parallel over pairs of panels
    /// (the kernel's tile: 32 features x 4 rows).
    public func linear(x: UnsafePointer<Float>, lda: Int, out: UnsafeMutablePointer<Float>, rows: Int, beta: Float) {
        if rows <= 0 { return }
        let groups = (rows + 3) / 4, blocks = blocks, kernel = Kernels.q8Kernel.rawValue
        let rowBytes = blocks * Int(CQ8_ROW_BLOCK_BYTES)
        let hl = UnsafeMutablePointer<Int8>.allocate(capacity: groups * 4 * rowBytes)
        let s = UnsafeMutablePointer<Float>.allocate(capacity: groups * 4 * blocks * 2), sv = s + groups * 4 * blocks
        defer { hl.deallocate(); s.deallocate() }
        let inDim = Int32(inDim), outDim = Int32(outDim), panels = panels
        Kernels.forEachUnit(groups, macsPerUnit: 4 * Int(inDim) * 16) { range in
            for g in range {
                let r0 = 4 * g
                cq8_quantize_rows(x + r0 * lda, Int32(lda), Int32(min(4, rows - r0)), inDim, hl + r0 * rowBytes,
                                  s + r0 * blocks, sv + r0 * blocks, kernel)
            }
        }
        let units = (panels + 1) / 2, storage = storage
        Kernels.forEachUnit(units, macsPerUnit: 32 * groups * 4 * blocks * 32) { range in
            cq8_linear(storage, outDim, inDim, Int32(2 * range.lowerBound), Int32(min(panels, 2 * range.upperBound)),
                       hl, s, sv, Int32(rows), out, outDim, beta, kernel)
        }
    }
}
