import XCTest
@testable import GRPO

final class GRPOConfigTests: XCTestCase {
    func testDefaultsOverridesAndUnknownFields() throws {
        XCTAssertEqual(try GRPOConfig.load(json: Data()), GRPOConfig())
        let c = try GRPOConfig.load(json: Data(#"{"lr": 0.001, "aggregation": "seqMeanTokenSum"}"#.utf8),
                                    overrides: ["groupSize=4", "filterVoidTurns=false", "reward=simpletir"])
        XCTAssertEqual(c.lr, 0.001)
        XCTAssertEqual(c.aggregation, .seqMeanTokenSum)
        XCTAssertEqual(c.groupSize, 4)
        XCTAssertFalse(c.filterVoidTurns)
        XCTAssertEqual(c.reward, "simpletir")
        XCTAssertThrowsError(try GRPOConfig.load(json: Data(#"{"learningRate": 1}"#.utf8))) {
            XCTAssertTrue("\($0)".contains("unknown config field 'learningRate'"))
        }
        XCTAssertThrowsError(try GRPOConfig.load(json: Data(), overrides: ["groupSize=1"])) {
            XCTAssertTrue("\($0)".contains("groupSize"))
        }
        XCTAssertThrowsError(try GRPOConfig.load(json: Data(), overrides: ["lr=fast"]))
        XCTAssertThrowsError(try GRPOConfig.load(json: Data(), overrides: ["aggregation=mean"]))
        XCTAssertThrowsError(try GRPOConfig.load(json: Data("[1]".utf8)))
    }

    func testEveryFieldIsDocumented() throws {
        let keys = Set((try JSONSerialization.jsonObject(with: JSONEncoder().encode(GRPOConfig())) as! [String: Any]).keys)
        XCTAssertEqual(keys, Set(GRPOConfig.documentation.map(\.key)))
    }
}
