import XCTest
@testable import Tensor

final class NumberFormatTests: XCTestCase {
    func testBF16RoundsToNearestEven() {
        let f = NumberFormat.bf16
        XCTAssertEqual(f.round(1), 1)
        XCTAssertEqual(f.round(1 + 0x1p-8), 1)                   // a tie: to the even neighbour 1
        XCTAssertEqual(f.round(1 + 3 * 0x1p-8), 1 + 0x1p-6)      // a tie: to the even neighbour 1 + 2^-6
        XCTAssertEqual(f.round(1 + 0x1p-8 + 0x1p-20), 1 + 0x1p-7)
        XCTAssertEqual(f.round(-3.14159), -3.140625)
        XCTAssertEqual(f.round(.greatestFiniteMagnitude), .infinity)
        XCTAssertTrue(f.round(.nan).isNaN)
        XCTAssertEqual(NumberFormat.fp32.round(1 + 0x1p-20), 1 + 0x1p-20)
    }

    /// Against the hardware conversion where Swift has Float16.
    func testFP16MatchesFloat16() {
        let f = NumberFormat.fp16
        var xs: [Float] = [0, 1, -1, 65504, 65519, 65520, 1e5, 0x1p-14, 0x1p-24, 0x1p-25, 3 * 0x1p-26, 6.1e-5, -2.5e-7]
        var state: UInt32 = 12345
        for _ in 0..<2000 {
            state = state &* 1_664_525 &+ 1_013_904_223
            xs.append(Float(bitPattern: (state & 0x807F_FFFF) | (UInt32(100 + state % 50) << 23)))   // 2^-27 ... 2^22
        }
        #if !(os(macOS) && arch(x86_64))
        for x in xs { XCTAssertEqual(f.round(x), Float(Float16(x)), "\(x)") }
        #endif
        XCTAssertEqual(f.round(65520), .infinity)
        XCTAssertEqual(f.round(65519), 65504)
        XCTAssertEqual(f.round(0x1p-25), 0)              // tie between 0 and 2^-24: even is 0
        XCTAssertEqual(f.round(3 * 0x1p-26), 0x1p-24)
    }
}
