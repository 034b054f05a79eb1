import XCTest
@testable import KithUV

/// Cross-origin reads of a token-guarded API (`Settings.crossOriginPathPrefix`): a browser's preflight
/// carries no token and must still be answered, while the reads themselves keep needing it.
final class HTTPServerCORSTests: XCTestCase {
    private func withServer(prefix: String?, _ body: (HTTPTestClient) throws -> Void) throws {
        var settings = HTTPServer.Settings()
        settings.bearerToken = "s3cret"
        settings.crossOriginPathPrefix = prefix
        let harness = try HTTPServerHarness(settings: settings) { _ in .text("data\n") }
        defer { harness.stop() }
        try body(try HTTPTestClient(port: harness.port))
    }

    func testAPreflightUnderThePrefixIsAnsweredWithoutTheTokenAndAllowsTheAuthorizationHeader() throws {
        try withServer(prefix: "/api/") { client in
            let preflight = try XCTUnwrap(client.get("/api/members", method: "OPTIONS", headers: [
                "Origin: http://127.0.0.1:9", "Access-Control-Request-Method: GET", "Access-Control-Request-Headers: authorization",
            ]))
            XCTAssertEqual(preflight.status, 204)
            XCTAssertEqual(preflight.headers["access-control-allow-origin"], "*")
            XCTAssertEqual(preflight.headers["access-control-allow-headers"], "Authorization")
            XCTAssertEqual(preflight.headers["access-control-allow-methods"], "GET, HEAD")
            XCTAssertNil(preflight.headers["content-length"], "no Content-Length on a 204")
            XCTAssertEqual(preflight.body, [])
            // The connection is still in step after the bodiless 204.
            XCTAssertEqual(try XCTUnwrap(client.get("/api/members", headers: ["Authorization: Bearer s3cret"])).status, 200)
        }
    }

    func testReadsUnderThePrefixStillNeedTheTokenAndTheir401IsReadableCrossOrigin() throws {
        try withServer(prefix: "/api/") { client in
            let denied = try XCTUnwrap(client.get("/api/members"))
            XCTAssertEqual(denied.status, 401)
            XCTAssertEqual(denied.headers["access-control-allow-origin"], "*", "the page can tell a bad token from a dead node")
            let granted = try XCTUnwrap(client.get("/api/members", headers: ["Authorization: Bearer s3cret"]))
            XCTAssertEqual(granted.status, 200)
            XCTAssertEqual(granted.headers["access-control-allow-origin"], "*")
        }
    }

    func testOutsideThePrefixOrWithoutOneThereIsNoCORSAndOPTIONSGets405() throws {
        try withServer(prefix: "/api/") { client in
            let other = try XCTUnwrap(client.get("/metrics", method: "OPTIONS"))
            XCTAssertEqual(other.status, 405)
            XCTAssertNil(other.headers["access-control-allow-origin"])
            XCTAssertNil(try XCTUnwrap(client.get("/metrics", headers: ["Authorization: Bearer s3cret"])).headers["access-control-allow-origin"])
        }
        try withServer(prefix: nil) { client in
            XCTAssertEqual(try XCTUnwrap(client.get("/api/members", method: "OPTIONS")).status, 405)
        }
    }
}
