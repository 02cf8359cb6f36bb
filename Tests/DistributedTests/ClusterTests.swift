import Foundation
import XCTest
@testable import Distributed

final class ClusterTests: XCTestCase {
    private var underMPI: Bool { Cluster.launchedByMPI(ProcessInfo.processInfo.environment) }

    /// Without a launcher the job is one process and every collective is the identity.
    func testOneProcessWithoutLauncher() throws {
        try XCTSkipIf(underMPI, "runs only outside mpirun")
        let c = Cluster.shared
        XCTAssertEqual(c.rank, 0)
        XCTAssertEqual(c.size, 1)
        var x: [Float] = [1, 2, 3]
        try x.withUnsafeMutableBufferPointer { try c.sumInRankOrder($0.baseAddress!, count: 3) }
        XCTAssertEqual(x, [1, 2, 3])
        XCTAssertEqual(try c.allGather(Data([7, 8])), [Data([7, 8])])
        XCTAssertEqual(try c.sumInRankOrder([0.5, 2]), [0.5, 2])
        XCTAssertEqual(Cluster.solo.rank, 0)
        XCTAssertEqual(Cluster.solo.size, 1)
        XCTAssertFalse(Cluster.launchedByMPI(["PATH": "/bin"]))
        XCTAssertTrue(Cluster.launchedByMPI(["OMPI_COMM_WORLD_SIZE": "2"]))
        XCTAssertTrue(Cluster.launchedByMPI(["PMI_SIZE": "2"]))
    }

    /// Launches this test bundle under `mpirun -np 3`, where `checkCollectives` runs on every rank.
    func testCollectivesOnThreeRanks() throws {
        if underMPI { try checkCollectives(); return }
        let mpirun = try XCTUnwrap(["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }, "mpirun not found: scripts/setup.sh installs openmpi-bin")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        p.arguments = ["--oversubscribe", "--allow-run-as-root", "-np", "3", CommandLine.arguments[0],
                       "DistributedTests.ClusterTests/testCollectivesOnThreeRanks"]
        let out = Pipe()
        p.standardOutput = out; p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        for r in 0..<3 { XCTAssertTrue(text.contains("rank \(r) of 3: collectives ok"), text) }
    }

    private func checkCollectives() throws {
        let c = Cluster.shared, r = c.rank
        XCTAssertEqual(c.size, 3)
        // Sums in rank order (magnitudes chosen so that another order gives other bits): several rounds of the
        // reduce-scatter with a shorter last one, a count that leaves rank 2 a partial slice, fewer floats than ranks.
        let big: [Float] = [1, 1e8, -1e8]
        func value(_ i: Int, _ rank: Int) -> Float { big[rank] + Float(i % 7) * 0.1 }
        for n in [3 * Cluster.chunk + 5, 7, 2] {
            var x = (0..<n).map { value($0, r) }
            try x.withUnsafeMutableBufferPointer { try c.sumInRankOrder($0.baseAddress!, count: n) }
            let wrong = (0..<n).filter { x[$0] != (value($0, 0) + value($0, 1)) + value($0, 2) }
            XCTAssertEqual(wrong.prefix(5), [], "\(wrong.count) of \(n) sums differ from the rank-order sum")
            XCTAssertTrue((0..<n).contains { x[$0] != value($0, 0) + (value($0, 1) + value($0, 2)) }, "the test cannot tell orders apart")
        }
        XCTAssertEqual(try c.sumInRankOrder([Double(r), 1]), [3, 3])
        // Variable-length gather, an empty part included.
        let parts = try c.allGather(Data(repeating: UInt8(r), count: r))
        XCTAssertEqual(parts, [Data(), Data([1]), Data([2, 2])])
        XCTAssertEqual(try c.broadcast(r == 0 ? Data("weights".utf8) : Data(), from: 0), Data("weights".utf8))
        var w: [Float] = r == 1 ? [4, 5] : [0, 0]
        try w.withUnsafeMutableBufferPointer { try c.broadcast($0.baseAddress!, count: 2, from: 1) }
        XCTAssertEqual(w, [4, 5])
        try c.barrier()
        print("rank \(r) of 3: collectives ok")
    }
}
