import Dispatch
import Glibc
import XCTest
@testable import KithUV

final class HTTPServerTests: XCTestCase {
    /// Routes like a small read-only API: "/" echoes what the server parsed, "/missing" is unknown.
    private func routes(_ request: HTTPRequest) -> HTTPResponse {
        switch request.path {
        case "/hello": .text("hello \(request.queryItem("name") ?? "?")\n")
        case "/echo":
            .text("\(request.method) \(request.path) ?\(request.query) ua=\(request.header("User-Agent") ?? "-")")
        default: .notFound
        }
    }

    private func withServer(
        _ configure: (inout HTTPServer.Settings) -> Void = { _ in },
        handler: ((HTTPRequest) -> HTTPResponse)? = nil,
        _ body: (HTTPServerHarness) throws -> Void
    ) throws {
        var settings = HTTPServer.Settings()
        configure(&settings)
        let harness = try HTTPServerHarness(settings: settings, handler: handler ?? { [unowned self] in routes($0) })
        defer { harness.stop() }
        try body(harness)
    }

    func testGETGetsTheHandlersBodyWithItsLengthAndTypeAndTheParsedTarget() throws {
        try withServer { harness in
            let client = try HTTPTestClient(port: harness.port)
            let hello = try XCTUnwrap(client.get("/hello?name=J%C3%BCrg+K&x"))
            XCTAssertEqual(hello.status, 200)
            XCTAssertEqual(hello.text, "hello Jürg K\n")
            XCTAssertEqual(hello.headers["content-length"], "\(hello.body.count)")
            XCTAssertEqual(hello.headers["content-type"], "text/plain; charset=utf-8")
            XCTAssertNil(hello.headers["connection"], "HTTP/1.1 stays open unless asked otherwise")
            let echo = try XCTUnwrap(client.get("/echo?a=1#frag", headers: ["User-Agent: probe/1"]))
            XCTAssertEqual(echo.text, "GET /echo ?a=1 ua=probe/1")
        }
    }

    func testHEADSendsGETsHeadersButNoBodySoTheNextResponseIsNotCorrupted() throws {
        try withServer { harness in
            let client = try HTTPTestClient(port: harness.port)
            let head = try XCTUnwrap(client.get("/hello?name=a", method: "HEAD"))
            XCTAssertEqual(head.status, 200)
            XCTAssertEqual(head.headers["content-length"], "8", "HEAD announces GET's length")
            XCTAssertEqual(head.body, [])
            let get = try XCTUnwrap(client.get("/hello?name=b"))
            XCTAssertEqual(get.text, "hello b\n")
        }
    }

    func testUnknownPathGets404FromTheHandler() throws {
        try withServer { harness in
            let response = try XCTUnwrap(HTTPTestClient(port: harness.port).get("/missing"))
            XCTAssertEqual(response.status, 404)
            XCTAssertEqual(response.text, "404 Not Found\n")
        }
    }

    func testMethodsOtherThanGETAndHEADGet405WithAllowAndNeverReachTheHandler() throws {
        var handled = 0
        try withServer(handler: { _ in handled += 1; return .text("ok") }) { harness in
            let client = try HTTPTestClient(port: harness.port)
            client.send("POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
            let post = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(post.status, 405)
            XCTAssertEqual(post.headers["allow"], "GET, HEAD")
            let delete = try XCTUnwrap(client.get("/hello", method: "DELETE"))
            XCTAssertEqual(delete.status, 405)
            XCTAssertEqual(try XCTUnwrap(client.get("/hello")).status, 200, "the connection survives a 405")
            XCTAssertEqual(harness.onLoop { handled }, 1)
        }
    }

    func testBearerTokenIsRequiredExceptOnExemptPaths() throws {
        try withServer({
            $0.bearerToken = "s3cret"
            $0.unauthenticatedPaths = ["/echo"]
        }) { harness in
            let client = try HTTPTestClient(port: harness.port)
            let missing = try XCTUnwrap(client.get("/hello"))
            XCTAssertEqual(missing.status, 401)
            XCTAssertEqual(missing.headers["www-authenticate"], "Bearer realm=\"kith\"")
            XCTAssertEqual(try XCTUnwrap(client.get("/hello", headers: ["Authorization: Bearer s3creT"])).status, 401)
            XCTAssertEqual(try XCTUnwrap(client.get("/hello", headers: ["Authorization: Basic s3cret"])).status, 401)
            XCTAssertEqual(try XCTUnwrap(client.get("/hello", headers: ["Authorization: Bearer s3cret2"])).status, 401)
            let granted = try XCTUnwrap(client.get("/hello?name=t", headers: ["Authorization: bearer s3cret"]))
            XCTAssertEqual(granted.status, 200)
            XCTAssertEqual(granted.text, "hello t\n")
            XCTAssertEqual(try XCTUnwrap(client.get("/echo")).status, 200, "exempt path")
        }
    }

    func testBearerTokenComparison() {
        XCTAssertTrue(bearerTokenMatches("Bearer abc", "abc"))
        XCTAssertTrue(bearerTokenMatches("BEARER abc", "abc"))
        XCTAssertFalse(bearerTokenMatches(nil, "abc"))
        XCTAssertFalse(bearerTokenMatches("Bearer", "abc"))
        XCTAssertFalse(bearerTokenMatches("Bearer ab", "abc"))
        XCTAssertFalse(bearerTokenMatches("Bearer abd", "abc"))
        XCTAssertFalse(bearerTokenMatches("Token abc", "abc"))
    }

    func testOversizedHeadersGet431AndCloseWhileTheServerKeepsServing() throws {
        try withServer({ $0.headerBytesMax = 1024 }) { harness in
            let client = try HTTPTestClient(port: harness.port)
            client.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "a", count: 4000))\r\n\r\n")
            XCTAssertEqual(try XCTUnwrap(client.readResponse()).status, 431)
            XCTAssertTrue(client.isClosedByServer())

            let many = try HTTPTestClient(port: harness.port)
            many.send("GET /hello HTTP/1.1\r\n" + (0..<100).map { "X-\($0): 1\r\n" }.joined() + "\r\n")
            XCTAssertEqual(try XCTUnwrap(many.readResponse()).status, 431, "more than headersCountMax fields")

            XCTAssertEqual(try XCTUnwrap(HTTPTestClient(port: harness.port).get("/hello")).status, 200)
            XCTAssertEqual(harness.onLoop { harness.server.statistics.responsesByStatus[431] }, 2)
        }
    }

    func testBodyOverTheLimitGets413BeforeItIsRead() throws {
        try withServer({ $0.bodyBytesMax = 100 }) { harness in
            let client = try HTTPTestClient(port: harness.port)
            client.send("GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n")
            XCTAssertEqual(try XCTUnwrap(client.readResponse()).status, 413)
            XCTAssertTrue(client.isClosedByServer())

            let chunked = try HTTPTestClient(port: harness.port)
            chunked.send("GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + "40\r\n\(String(repeating: "b", count: 64))\r\n40\r\n\(String(repeating: "b", count: 64))\r\n")
            XCTAssertEqual(try XCTUnwrap(chunked.readResponse()).status, 413, "a chunked body is counted as it arrives")
        }
    }

    func testARequestThatNeverFinishesGets408AtTheDeadlineAndAnIdleOneIsClosedSilently() throws {
        try withServer({ $0.requestTimeout = .milliseconds(300) }) { harness in
            let slow = try HTTPTestClient(port: harness.port)
            let idle = try HTTPTestClient(port: harness.port)
            let started = DispatchTime.now()
            slow.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Trickle: ")
            let response = try XCTUnwrap(slow.readResponse())
            let elapsedMilliseconds = (DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1_000_000
            XCTAssertEqual(response.status, 408)
            XCTAssertEqual(response.headers["connection"], "close")
            XCTAssertGreaterThanOrEqual(elapsedMilliseconds, 250)
            XCTAssertLessThan(elapsedMilliseconds, 2000)
            XCTAssertTrue(slow.isClosedByServer())
            XCTAssertNil(idle.readResponse(), "an idle connection gets no response")
            XCTAssertTrue(idle.isClosedByServer())
            XCTAssertEqual(harness.onLoop { harness.server.connectionCount }, 0)
        }
    }

    func testKeepAliveDeadlineRestartsAfterEachAnswer() throws {
        try withServer({ $0.requestTimeout = .milliseconds(400) }) { harness in
            let client = try HTTPTestClient(port: harness.port)
            for _ in 0..<3 {
                usleep(250_000)  // each wait alone is under the deadline, together they are over it
                XCTAssertEqual(try XCTUnwrap(client.get("/hello")).status, 200)
            }
        }
    }

    func testMalformedBytesGet400AndTheServerCarriesOn() throws {
        var rejections: [(status: Int, reason: String, peer: String)] = []
        try withServer { harness in
            harness.onLoop { harness.server.onRejected = { rejections.append(($0, $1, $2)) } }
            let inputs: [[UInt8]] = [
                [0x00, 0xff, 0x13, 0x37] + Array("\r\n\r\n".utf8),
                Array("GET /hello HTTP/9.x\r\n\r\n".utf8),
                Array("GET /hello HTTP/1.1\r\nBad Header\r\n\r\n".utf8),
                Array("GET /hello HTTP/1.1\r\nContent-Length: -1\r\n\r\n".utf8),
                Array("BREW /pot HTTP/1.1\r\n\r\n".utf8),
            ]
            for input in inputs {
                let client = try HTTPTestClient(port: harness.port)
                client.send(input)
                let response = try XCTUnwrap(client.readResponse(), "no response to \(input)")
                XCTAssertEqual(response.status, 400, "for \(String(decoding: input, as: UTF8.self))")
                XCTAssertTrue(client.isClosedByServer())
            }
            XCTAssertEqual(try XCTUnwrap(HTTPTestClient(port: harness.port).get("/hello")).status, 200)
            XCTAssertEqual(harness.onLoop { rejections }.map(\.reason),
                           ["HPE_INVALID_METHOD", "HPE_INVALID_VERSION", "HPE_INVALID_HEADER_TOKEN",
                            "HPE_INVALID_CONTENT_LENGTH", "HPE_INVALID_METHOD"])
            XCTAssertTrue(harness.onLoop { rejections }.allSatisfy { $0.status == 400 && $0.peer.hasPrefix("127.0.0.1:") })
        }
    }

    func testKeepAliveAndPipelinedRequestsAreAnsweredInOrderOnOneConnection() throws {
        try withServer { harness in
            let client = try HTTPTestClient(port: harness.port)
            XCTAssertEqual(try XCTUnwrap(client.get("/hello?name=1")).text, "hello 1\n")
            XCTAssertEqual(try XCTUnwrap(client.get("/hello?name=2")).text, "hello 2\n")
            client.send("GET /hello?name=3 HTTP/1.1\r\nHost: t\r\n\r\nGET /missing HTTP/1.1\r\nHost: t\r\n\r\n"
                        + "GET /hello?name=4 HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(try XCTUnwrap(client.readResponse()).text, "hello 3\n")
            XCTAssertEqual(try XCTUnwrap(client.readResponse()).status, 404)
            XCTAssertEqual(try XCTUnwrap(client.readResponse()).text, "hello 4\n")
            XCTAssertEqual(harness.onLoop { harness.server.statistics.connectionsAccepted }, 1)
        }
    }

    func testConnectionCloseAndHTTP10AreAnsweredThenClosed() throws {
        try withServer { harness in
            for request in ["GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n", "GET /hello HTTP/1.0\r\n\r\n"] {
                let client = try HTTPTestClient(port: harness.port)
                client.send(request + "GET /hello?name=ignored HTTP/1.1\r\n\r\n")
                let response = try XCTUnwrap(client.readResponse())
                XCTAssertEqual(response.text, "hello ?\n")
                XCTAssertEqual(response.headers["connection"], "close")
                XCTAssertTrue(client.isClosedByServer(), "nothing after the last response")
            }
        }
    }

    func testConnectionsOverTheCapGet503AndTheCapFreesUpWhenOneLeaves() throws {
        try withServer({ $0.connectionsMax = 2 }) { harness in
            var first: HTTPTestClient? = try HTTPTestClient(port: harness.port)
            let second = try HTTPTestClient(port: harness.port)
            XCTAssertEqual(try XCTUnwrap(first?.get("/hello")).status, 200)
            XCTAssertEqual(try XCTUnwrap(second.get("/hello")).status, 200)
            let third = try HTTPTestClient(port: harness.port)
            XCTAssertEqual(try XCTUnwrap(third.readResponse()).status, 503)
            XCTAssertTrue(third.isClosedByServer())
            first = nil
            var served = false
            for _ in 0..<50 where !served {  // the server notices the close on its next loop iteration
                served = try HTTPTestClient(port: harness.port).get("/hello")?.status == 200
                if !served { usleep(20_000) }
            }
            XCTAssertTrue(served)
            XCTAssertGreaterThanOrEqual(harness.onLoop { harness.server.statistics.connectionsRefused }, 1)
        }
    }

    func testResponseHeadersCannotBeSplitByLineBreaksInValues() throws {
        try withServer(handler: { _ in
            HTTPResponse(status: 200, headers: [("X-Agent", "evil\r\nSet-Cookie: a=b")], body: .bytes(Array("ok".utf8)))
        }) { harness in
            let response = try XCTUnwrap(HTTPTestClient(port: harness.port).get("/"))
            XCTAssertEqual(response.headers["x-agent"], "evilSet-Cookie: a=b")
            XCTAssertNil(response.headers["set-cookie"])
            XCTAssertEqual(response.text, "ok")
        }
    }
}
