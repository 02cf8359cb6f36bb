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

    /// Nearby sizes share a size class (at most 12.5% larger); over the limit, the least recently used class
    /// goes back to malloc first.
    func testSizeClassesAndTheLimit() {
        let n = StorageCache.minBytes / 4 * 2
        for k in [n, n + 1, 3 * n + 5, 7 * n - 1] {
            XCTAssertGreaterThanOrEqual(StorageCache.capacity(k), k)
            XCTAssertLessThanOrEqual(StorageCache.capacity(k), k + k / 8 + 1)
        }
        XCTAssertEqual(StorageCache.capacity(100), 100, "small buffers are not rounded")
        let a = StorageCache.allocate(n + 1)
        StorageCache.deallocate(a, count: n + 1)
        let b = StorageCache.allocate(n + 2)
        XCTAssertEqual(a, b, "one class")
        StorageCache.deallocate(b, count: n + 2)

        defer { setStorageCacheLimit(StorageCache.defaultLimit) }
        setStorageCacheLimit(0)
        XCTAssertEqual(StorageCache.cachedBytes, 0)
        let big = StorageCache.capacity(4 * n), small = StorageCache.capacity(2 * n)
        setStorageCacheLimit(big * 4)
        let x = StorageCache.allocate(4 * n), y = StorageCache.allocate(2 * n)
        StorageCache.deallocate(y, count: 2 * n)
        XCTAssertEqual(StorageCache.cachedBytes, small * 4)
        StorageCache.deallocate(x, count: 4 * n)
        XCTAssertEqual(StorageCache.cachedBytes, big * 4, "the older class was evicted to fit the newer")
        XCTAssertEqual(StorageCache.allocate(4 * n), x)
        StorageCache.deallocate(x, count: 4 * n)
    }
}
