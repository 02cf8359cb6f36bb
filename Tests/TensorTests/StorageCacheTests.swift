import XCTest
@testable import Tensor

final class StorageCacheTests: XCTestCase {
    /// A freed large buffer is handed out again for the next request of the same size (no new mapping),
    /// and a tensor built on reused storage still starts zero-filled.
    func testLargeBuffersAreReusedAndZeroedTensorsStayZero() {
        let n = StorageCache.minBytes / 4 + 123
        let p = StorageCache.allocate(n)
        p.initialize(repeating: 7, count: n)
        StorageCache.deallocate(p, count: n)
        let q = StorageCache.allocate(n)
        XCTAssertEqual(q, p)
        q[0] = 5
        StorageCache.deallocate(q, count: n)
        let t = Tensor(zeros: [n])
        XCTAssertEqual(t.data, p)
        XCTAssertTrue(t.array.allSatisfy { $0 == 0 })
        XCTAssertTrue(t.ensureGrad()[n - 1] == 0)
    }

    /// Different sizes never share a buffer.
    func testSizesAreKeptApart() {
        let n = StorageCache.minBytes / 4
        let a = StorageCache.allocate(n), b = StorageCache.allocate(2 * n)
        StorageCache.deallocate(a, count: n)
        let c = StorageCache.allocate(2 * n)
        XCTAssertNotEqual(c, a)
        StorageCache.deallocate(b, count: 2 * n)
        StorageCache.deallocate(c, count: 2 * n)
        let d = StorageCache.allocate(n)
        XCTAssertEqual(d, a)
        StorageCache.deallocate(d, count: n)
    }
}
