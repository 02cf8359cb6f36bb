import XCTest
@testable import Tensor

final class BackwardProfileTests: XCTestCase {
    func testEveryRuleIsCountedUnderItsOpAndGradientsAreUnchanged() throws {
        func graph() throws -> (loss: Tensor, x: Tensor, w: Tensor) {
            let x = try Tensor(shape: [4, 6], randomTensor([4, 6], seed: 1).array, requiresGrad: true)
            let w = try Tensor(shape: [5, 6], randomTensor([5, 6], seed: 2).array, requiresGrad: true)
            let h = try rmsNorm(try matmul(x, w, transB: true), weight: Tensor(shape: [5], [1, 2, 3, 4, 5]))
            let loss = try crossEntropy(try add(h, scale(h, 0.5)), targets: [0, 4, 2, 1])
            return (loss, x, w)
        }
        let plain = try graph()
        try plain.loss.backward()
        let profiled = try graph()
        let profile = BackwardProfile()
        try profiled.loss.backward(profile: profile)
        XCTAssertEqual(profiled.x.gradArray, plain.x.gradArray)
        XCTAssertEqual(profiled.w.gradArray, plain.w.gradArray)

        let calls = Dictionary(uniqueKeysWithValues: profile.entries.map { ($0.op, $0.calls) })
        XCTAssertEqual(calls, ["matmul": 1, "rmsNorm": 1, "scale": 1, "add": 1, "crossEntropy": 1])
        XCTAssertEqual(profiled.loss.opName, "crossEntropy")
        XCTAssertNil(profiled.x.opName, "a leaf carries no backward rule")
        XCTAssertTrue(profile.entries.allSatisfy { $0.seconds >= 0 })
        XCTAssertEqual(profile.entries.map(\.seconds), profile.entries.map(\.seconds).sorted(by: >))

        // A second sweep accumulates into the same profile.
        try graph().loss.backward(profile: profile)
        XCTAssertEqual(profile.entries.first { $0.op == "matmul" }?.calls, 2)
        let report = profile.report.split(separator: "\n")
        XCTAssertEqual(report.count, 1 + 5)
        XCTAssertTrue(report[0].hasPrefix("op"))
        XCTAssertTrue(report.dropFirst().contains { $0.hasPrefix("crossEntropy") })
    }

    func testNamesGivenExplicitlyOrByOpsOutsideTheModule() throws {
        let x = try Tensor(shape: [2], [1, 2], requiresGrad: true)
        let y = Tensor.record(try Tensor(shape: [2], [2, 4]), inputs: [x], op: "double") { out in
            let g = x.ensureGrad()
            for i in 0..<2 { g[i] += 2 * out.grad![i] }
        }
        let profile = BackwardProfile()
        try y.backward(seed: [1, 1], profile: profile)
        XCTAssertEqual(profile.entries.map(\.op), ["double"])
        XCTAssertEqual(x.gradArray, [2, 2])
    }
}
