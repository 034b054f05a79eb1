import Foundation
import Glibc
import KithCore
import XCTest

/// End-to-end delivery in a real lab: an agent sends a message every 20 ms
/// to a peer whose node is then SIGKILLed; every message its daemon answered
/// `ok` is delivered once to each copy that gets it (only the killed copy's
/// last, unacknowledged messages reach the relaunched one too) or failed by
/// id with `send_failed`, never both, and each copy sees the messages in the
/// order they were sent.
final class DeliveryTests: LabTestCase {
    override func setUpWithError() throws {
        guard Self.python != nil else { throw XCTSkip("no python3 on PATH for the delivery agent") }
    }

    func testFloodToAPeerWhoseNodeIsKilledLosesNoAcknowledgedMessage() throws {
        try lab.start(nodes: 3)
        func start(_ name: String, on node: String, _ command: [String], extra: [String] = []) throws {
            let started = try lab.kithctl(on: "n1", ["agent", "start", name, "--on", node] + extra + ["--wait", "--"] + command)
            XCTAssertEqual(started.status, 0, started.stderr)
        }
        try start("r1", on: "n3", [Self.python!, Self.agentScript, "receive"])
        try start("g1", on: "n2", ["kith-agent", "--interval-ms", "200"], extra: ["--protects", "r1", "--policy", "relaunch"])
        try start("s1", on: "n1", [Self.python!, Self.agentScript, "send", "r1", String(Self.count), "20"])
        try lab.waitUntil("r1 receives the first messages") { received().count >= 25 }

        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n3"]).status, 0)
        _ = try lab.waitForAgent("r1", seenBy: ["n1"], "r1 is relaunched off n3", timeout: 60) {
            $0["state"] == "running" && $0["host"] != "n3"
        }
        try lab.waitUntil("s1 sent everything and heard every answer", timeout: 60) {
            senderLines().filter { $0.hasPrefix("ACK ") || $0.hasPrefix("NACK ") }.count == Self.count
        }
        // Every acknowledged message settles: delivered, or failed within the give-up time.
        try lab.waitUntil("every acknowledged message is delivered or failed", timeout: 30) {
            let settled = Set(received().map(\.n)).union(failed().keys)
            return acknowledged().isSubset(of: settled)
        }

        let acks = acknowledged()
        let deliveries = received()
        let failures = failed()
        XCTAssertEqual(acks.count, Self.count, "every send was answered ok (refusals: \(senderLines().filter { $0.hasPrefix("NACK") }))")
        var seen: [Int: Int] = [:]
        for delivery in deliveries { seen[delivery.n, default: 0] += 1 }
        // Once per copy; across copies only the killed copy's last, unacknowledged messages may come again.
        for generation in Set(deliveries.map(\.generation)) {
            let numbers = deliveries.filter { $0.generation == generation }.map(\.n)
            XCTAssertEqual(numbers.count, Set(numbers).count, "copy \(generation) got a message twice")
        }
        let killedCopy = deliveries.filter { $0.generation == 1 }.map(\.n)
        let again = seen.filter { $0.value > 1 }.keys.sorted()
        XCTAssertTrue(again.allSatisfy { $0 > (killedCopy.max() ?? 0) - 5 && killedCopy.contains($0) },
                      "delivered to two copies, but not among the killed copy's last messages: \(again)")
        XCTAssertEqual(Set(seen.keys).intersection(failures.keys).sorted(), [], "both delivered and failed")
        XCTAssertEqual(acks.subtracting(seen.keys).subtracting(failures.keys).sorted(), [], "acknowledged, then lost")
        for generation in Set(deliveries.map(\.generation)) {
            let order = deliveries.filter { $0.generation == generation }.map(\.n)
            XCTAssertEqual(order, order.sorted(), "copy \(generation) saw messages out of order")
        }
        XCTAssertGreaterThan(Set(deliveries.map(\.generation)).count, 1, "the relaunched copy received messages too")
        print("delivery: \(acks.count) acknowledged, \(seen.count) delivered (\(deliveries.filter { $0.generation != 1 }.count) "
              + "to the relaunched copy), \(failures.count) failed: \(failures.values.sorted())")
    }

    // MARK: Reading the agents' logs

    private static let count = 400

    /// `GOT N GENERATION` lines from every node's log of r1 (the killed node's stays on disk).
    private func received() -> [(n: Int, generation: Int)] {
        ["n1", "n2", "n3"].flatMap { node in
            lab.agentLog("r1", on: node).split(separator: "\n").compactMap { line -> (Int, Int)? in
                let fields = line.split(separator: " ")
                guard fields.count == 3, fields[0] == "GOT", let n = Int(fields[1]), let generation = Int(fields[2]) else { return nil }
                return (n, generation)
            }
        }
    }

    private func senderLines() -> [String] { lab.agentLog("s1", on: "n1").split(separator: "\n").map(String.init) }

    private func acknowledged() -> Set<Int> {
        Set(senderLines().compactMap { $0.hasPrefix("ACK ") ? Int($0.dropFirst(4)) : nil })
    }

    /// Failed id → reason.
    private func failed() -> [Int: String] {
        var failures: [Int: String] = [:]
        for line in senderLines() where line.hasPrefix("FAILED ") {
            let fields = line.split(separator: " ")
            if fields.count == 3, let n = Int(fields[1]) { failures[n] = String(fields[2]) }
        }
        return failures
    }

    private static let agentScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("python/tests/delivery_agent.py").path

    /// The system's python3 first: agents run under their own uids and cannot reach an interpreter in root's home.
    private static let python: String? = {
        let path = "/usr/bin:/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "")
        return path.split(separator: ":").map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
}
