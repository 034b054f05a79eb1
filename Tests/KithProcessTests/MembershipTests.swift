import Glibc
import XCTest

/// Membership end to end: real daemons, real signals, every survivor's view polled.
final class MembershipTests: LabTestCase {
    func testFiveNodesJoinAndAllSeeFiveAlive() throws {
        try lab.start(nodes: 5)
        XCTAssertEqual(lab.states(seenBy: "n3")?.count, 5)
        for observer in lab.nodes.map(\.name) {
            XCTAssertEqual(lab.states(seenBy: observer)?.values.filter { $0 == "alive" }.count, 5, "\(observer)'s view")
        }
    }

    func testKilledNodeIsMarkedDeadByEverySurvivor() throws {
        try lab.start(nodes: 5)
        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n4"]).status, 0)
        try lab.waitUntil("every survivor marks n4 dead") {
            lab.allSee(["n4"], as: "dead", observers: ["n1", "n2", "n3", "n5"])
        }
    }

    func testPausedNodeIsSuspectedThenDeadAndRefutesAfterResume() throws {
        try lab.start(nodes: 5)
        let survivors = ["n1", "n2", "n3", "n4"]
        XCTAssertEqual(try lab.kithctl(["lab", "pause", "n5"]).status, 0)
        var sawSuspect = false
        try lab.waitUntil("every survivor marks the paused n5 dead") {
            let views = survivors.compactMap { lab.states(seenBy: $0)?["n5"] }
            sawSuspect = sawSuspect || views.contains("suspect")
            return views.count == survivors.count && views.allSatisfy { $0 == "dead" }
        }
        XCTAssertTrue(sawSuspect, "n5 went to dead without being suspected first")

        XCTAssertEqual(try lab.kithctl(["lab", "resume", "n5"]).status, 0)
        try lab.waitUntil("n5 refutes and every node sees it alive again") {
            lab.allSee(["n5"], as: "alive")
        }
    }

    func testTerminatedNodeLeavesAndExitsCleanly() throws {
        try lab.start(nodes: 5)
        XCTAssertEqual(try lab.kithctl(["lab", "stop", "n2"]).status, 0)
        XCTAssertEqual(lab.waitForExit("n2", timeout: 2), 0, "kithd should exit 0 within 2 s of SIGTERM")
        try lab.waitUntil("every survivor marks n2 left") {
            lab.allSee(["n2"], as: "left", observers: ["n1", "n3", "n4", "n5"])
        }
    }

    func testRestartedNodeRejoinsUnderItsName() throws {
        try lab.start(nodes: 5)
        let firstPid = lab.node("n3").pid
        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n3"]).status, 0)
        try lab.waitUntil("every survivor marks n3 dead") {
            lab.allSee(["n3"], as: "dead", observers: ["n1", "n2", "n4", "n5"])
        }
        let started = try lab.kithctl(["lab", "start", "n3"])
        XCTAssertEqual(started.status, 0, started.stderr)
        XCTAssertNotEqual(lab.node("n3").pid, firstPid, "lab.json should record the new pid")
        try lab.waitUntil("every node sees all five alive after n3 restarts") {
            lab.allSee(lab.nodes.map(\.name), as: "alive")
        }
    }
}
