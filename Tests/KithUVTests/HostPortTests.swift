import XCTest
@testable import KithUV

final class HostPortTests: XCTestCase {
    func testParsesHostsPortsAndBracketedIPv6() {
        let valid: [(String, String, UInt16)] = [
            ("127.0.0.1:7946", "127.0.0.1", 7946),
            ("node-1.example:0", "node-1.example", 0),
            ("localhost:65535", "localhost", 65535),
            ("[::1]:80", "::1", 80),
            ("[fe80::1%eth0]:1", "fe80::1%eth0", 1),
            ("host:00080", "host", 80),
        ]
        for (text, host, port) in valid {
            let parsed = parseHostPort(text)
            XCTAssertEqual(parsed?.host, host, text)
            XCTAssertEqual(parsed?.port, port, text)
        }
    }

    func testRejectsMalformedInput() {
        let malformed = [
            "", "host", "host:", ":80", "host:65536", "host:123456", "host:-1", "host:+80", "host:8a",
            "host: 80", "::1:80", "[::1]", "[::1]80", "[]:80", "[::1:80", "::1]:80", "a[b]:80", "[:80",
        ]
        for text in malformed {
            XCTAssertNil(parseHostPort(text), text)
        }
    }

    func testReadsBackThePeerAddressFormat() throws {
        let v4 = try SocketAddress(ip: "10.0.0.7", port: 7946)
        let v6 = try SocketAddress(ip: "::1", port: 80)
        XCTAssertEqual(v4.description, "10.0.0.7:7946")
        XCTAssertEqual(v6.description, "[::1]:80")
        XCTAssertEqual(parseHostPort(v6.description)?.host, "::1")
    }

    func testRejectsNonLiteralListenAddresses() throws {
        XCTAssertThrowsError(try SocketAddress(ip: "localhost", port: 1)) { error in
            XCTAssertEqual((error as? UVError)?.name, "EINVAL")
        }
    }
}
