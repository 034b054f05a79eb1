import XCTest
@testable import KithUV

final class HTTPRequestParserTests: XCTestCase {
    private func parser() -> HTTPRequestParser {
        HTTPRequestParser(headerBytesMax: 1024, headersCountMax: 16, bodyBytesMax: 64)
    }

    /// Requests as "METHOD path?query|header=value;...|body" with keep-alive, or a rejection's status.
    private func summary(_ outcomes: [HTTPRequestParser.Outcome]) -> [String] {
        outcomes.map { outcome in
            switch outcome {
            case .request(let request, let keepAlive):
                "\(request.method) \(request.path)?\(request.query)|"
                    + request.headers.map { "\($0.name)=\($0.value)" }.joined(separator: ";")
                    + "|\(String(decoding: request.body, as: UTF8.self)) keepAlive=\(keepAlive)"
            case .rejected(let status, _): "rejected \(status)"
            }
        }
    }

    func testPipelinedRequestsParseTheSameWhateverTheChunking() {
        let stream = Array(("GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-Long: \(String(repeating: "v", count: 100))\r\n\r\n"
            + "HEAD /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
            + "GET /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
            + "GET /d HTTP/1.1\r\nConnection: close\r\n\r\n").utf8)
        let expected = [
            "GET /a?x=1|host=h;x-long=\(String(repeating: "v", count: 100))| keepAlive=true",
            "HEAD /b?|content-length=3|abc keepAlive=true",
            "GET /c?|transfer-encoding=chunked|hi keepAlive=true",
            "GET /d?|connection=close| keepAlive=false",
        ]
        for chunkSize in [1, 2, 3, 7, 50, stream.count] {
            let parser = parser()
            var outcomes: [HTTPRequestParser.Outcome] = []
            for start in stride(from: 0, to: stream.count, by: chunkSize) {
                outcomes += parser.feed(Array(stream[start..<min(start + chunkSize, stream.count)]))
            }
            XCTAssertEqual(summary(outcomes), expected, "chunks of \(chunkSize)")
            XCTAssertFalse(parser.hasPartialRequest)
        }
    }

    func testPartialRequestIsReportedUntilItCompletes() {
        let parser = parser()
        XCTAssertFalse(parser.hasPartialRequest)
        XCTAssertEqual(parser.feed(Array("GET / HTTP/1.1\r\n".utf8)).count, 0)
        XCTAssertTrue(parser.hasPartialRequest)
        XCTAssertEqual(parser.feed(Array("\r\n".utf8)).count, 1)
        XCTAssertFalse(parser.hasPartialRequest)
    }

    func testLimitsAreEnforcedAsBytesArriveAndNothingIsParsedAfterARejection() {
        let parser = parser()
        XCTAssertEqual(summary(parser.feed(Array("GET /\(String(repeating: "p", count: 1100)) HTTP/1.1\r\n".utf8))),
                       ["rejected 431"], "the request line counts towards the head before it is complete")
        XCTAssertEqual(parser.feed(Array("GET / HTTP/1.1\r\n\r\n".utf8)).count, 0)

        let body = HTTPRequestParser(headerBytesMax: 1024, headersCountMax: 16, bodyBytesMax: 64)
        XCTAssertEqual(summary(body.feed(Array("GET / HTTP/1.1\r\nContent-Length: 65\r\n\r\n".utf8))), ["rejected 413"])
    }

    func testRandomBytesNeverTrapAndEndInAtMostOneRejection() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("GET /HTP1.\r\n:ab?=%Content-Length: 0chunked\u{0}\u{ff}".utf8)
        for round in 0..<2000 {
            let parser = parser()
            var outcomes: [HTTPRequestParser.Outcome] = []
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                let chunk = (0..<Int.random(in: 0...300, using: &generator)).map { _ in
                    round.isMultiple(of: 2) ? alphabet.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
                }
                outcomes += parser.feed(chunk)
            }
            let rejections = outcomes.indices.filter { if case .rejected = outcomes[$0] { true } else { false } }
            XCTAssertLessThanOrEqual(rejections.count, 1)
            if let first = rejections.first { XCTAssertEqual(first, outcomes.count - 1, "nothing after a rejection") }
        }
    }
}
