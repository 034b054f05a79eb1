import KithLab
import XCTest

/// A lab larger than one wave starts wave by wave through its spread seeds, converges, and goes down whole.
final class LabWavesTests: LabTestCase {
    func testALabOfTwoWavesConvergesAndLabDownStopsEveryDaemon() throws {
        let count = LabWaves.size + 8
        try lab.start(nodes: count)
        XCTAssertEqual(lab.nodes.count, count, "lab.json records every wave")
        XCTAssert(lab.nodes.allSatisfy { $0.pid > 0 }, "a node of the second wave was not started")
        XCTAssertEqual(try lab.kithctl(["lab", "down"]).status, 0)
        for node in lab.nodes {
            XCTAssertNotNil(lab.waitForExit(node.name, timeout: 5), "\(node.name) still running after lab down")
        }
    }
}
