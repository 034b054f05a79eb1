import Foundation
import Glibc
import KithCore
import XCTest

/// A lab daemon's `--http` endpoint under abuse: malformed, oversized and slow requests get 400, 431,
/// 413 and 408 and the daemon carries on; a thousand idle connections (four times the cap) do not stall
/// its gossip: it still sees a peer die in time and calls no live peer suspect.
final class HTTPAbuseTests: LabTestCase {
    /// A raw loopback TCP connection to `address`, nil when it cannot connect.
    private final class Connection {
        let fd: Int32

        init?(_ address: String) {
            guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else { return nil }
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var peer = sockaddr_in()
            peer.sin_family = sa_family_t(AF_INET)
            peer.sin_port = port.bigEndian
            peer.sin_addr.s_addr = inet_addr(String(address[..<colon]))
            let connected = withUnsafePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            if !connected {
                Glibc.close(fd)
                return nil
            }
        }

        func send(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }

        /// What arrives within `seconds`, until the peer closes.
        func receive(for seconds: Double) -> String {
            let deadline = Date().addingTimeInterval(seconds)
            var received: [UInt8] = []
            while case let left = deadline.timeIntervalSinceNow, left > 0 {
                var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard Glibc.poll(&poll, 1, Int32(left * 1000) + 1) > 0 else { continue }
                var buffer = [UInt8](repeating: 0, count: 65536)
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { break }
                received += buffer[..<count]
            }
            return String(decoding: received, as: UTF8.self)
        }

        deinit { Glibc.close(fd) }
    }

    private func http(of node: String) throws -> String {
        let status = try JSON.parse(try lab.kithctl(["lab", "status", "--json"]).stdout).arrayValue ?? []
        return try XCTUnwrap(status.first { $0["name"]?.stringValue == node }?["http"]?.stringValue)
    }

    private func status(_ address: String, _ request: String) throws -> String {
        let connection = try XCTUnwrap(Connection(address))
        connection.send(request)
        return connection.receive(for: 5).components(separatedBy: "\r\n")[0]
    }

    func testMalformedOversizedAndHugeBodyRequestsAreRefusedAndTheDaemonServesOn() throws {
        try lab.start(nodes: 2)
        let n1 = try http(of: "n1")
        XCTAssertEqual(try status(n1, "NONSENSE\r\n\r\n"), "HTTP/1.1 400 Bad Request")
        XCTAssertEqual(try status(n1, "GET / HTTP/1.1\r\nX-Filler: \(String(repeating: "x", count: 9000))\r\n\r\n"),
                       "HTTP/1.1 431 Request Header Fields Too Large")
        XCTAssertEqual(try status(n1, "GET /metrics HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n"), "HTTP/1.1 413 Payload Too Large")
        XCTAssertEqual(try status(n1, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"), "HTTP/1.1 200 OK")
        XCTAssertTrue(lab.allSee(["n1", "n2"], as: "alive"), "gossip unharmed")
    }

    func testAThousandIdleConnectionsAndASlowRequestDoNotStallGossip() throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        guard limit.rlim_cur >= 1200 || limit.rlim_max >= 1200 else {
            print("SKIP testAThousandIdleConnectionsAndASlowRequestDoNotStallGossip: at most \(limit.rlim_max) open files")
            return
        }
        limit.rlim_cur = max(limit.rlim_cur, min(limit.rlim_max, 4096))
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)

        try lab.start(nodes: 3)
        let n1 = try http(of: "n1")
        // A request that never finishes, first (so it holds one of the 256 places), then 1,000 idle ones.
        let slow = try XCTUnwrap(Connection(n1))
        let opened = Date()
        slow.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")
        let idle = (0..<1000).compactMap { _ in Connection(n1) }
        XCTAssertEqual(idle.count, 1000, "every connection was accepted by the kernel")

        // Gossip goes on: n1 sees n3 die and keeps n2 alive.
        kill(lab.node("n3").pid, SIGKILL)
        try lab.waitUntil("n1 seeing n3 dead with 1,000 HTTP connections open") {
            lab.states(seenBy: "n1")?["n3"] == "dead"
        }
        XCTAssertEqual(lab.states(seenBy: "n1")?["n2"], "alive")
        XCTAssertEqual(lab.states(seenBy: "n2")?["n1"], "alive", "n1 answers its probes")

        // The slow request gets 408 at the 10 s deadline, and the idle places are given back.
        let answer = slow.receive(for: 12 - Date().timeIntervalSince(opened))
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 408"), "slow request got: \(answer.prefix(60))")
        try lab.waitUntil("n1 serving again after the idle connections timed out") {
            (try? status(n1, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")) == "HTTP/1.1 200 OK"
        }
        let metrics = try status(n1, "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(metrics, "HTTP/1.1 200 OK")
        withExtendedLifetime(idle) {}
    }
}
