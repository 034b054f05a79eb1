import Foundation
import Glibc
import XCTest

/// Hostile input: garbage on the gossip port and bad command lines.
final class RobustnessTests: LabTestCase {
    func testGarbageOnGossipPortLeavesClusterUnaffected() throws {
        try lab.start(nodes: 5)
        var random = SystemRandomNumberGenerator()
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &random) }
        // A length prefix claiming ~4 GiB, then a little payload: the daemon must refuse it, not buffer it.
        let oversized: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF] + Array(repeating: 0x41, count: 64)
        for payload in [noise, oversized, [0x7F, 0xFF, 0xFF, 0xF0] + noise] {
            try send(payload, to: lab.node("n2").listen)
        }
        try lab.waitUntil("n2 counts the rejected frames") {
            (try? lab.client("n2").request(["cmd": "status"]))?["frames_rejected"]?.intValue ?? 0 > 0
        }
        try lab.waitUntil("every node still sees all five alive") {
            lab.allSee(lab.nodes.map(\.name), as: "alive")
        }
    }

    func testBadFlagExitsWithUsageError() throws {
        let result = try Subprocess.run(Binaries.kithd, ["--no-such-flag"], timeout: 10)
        XCTAssertEqual(result.status, 2)
        XCTAssertFalse(result.stderr.isEmpty, "kithd should say what was wrong")
    }

    func testBadConfigFileExitsWithUsageError() throws {
        try FileManager.default.createDirectory(atPath: lab.directory, withIntermediateDirectories: true)
        let config = lab.directory + "/bad-config.json"
        try "{ this is not a config".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try Subprocess.run(Binaries.kithd, [
            "--name", "n1", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
            "--data-dir", lab.directory + "/n1", "--config", config,
        ], timeout: 10)
        XCTAssertEqual(result.status, 2)
        XCTAssertFalse(result.stderr.isEmpty, "kithd should say what was wrong")
    }

    /// Writes raw bytes to a TCP address and closes, as a confused or hostile peer would.
    private func send(_ bytes: [UInt8], to address: String) throws {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw HarnessError("bad address \(address)")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = port.bigEndian
        target.sin_addr.s_addr = inet_addr(String(address[..<colon]))
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw HarnessError("cannot connect to \(address): \(String(cString: strerror(errno)))") }
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
