import Glibc
import XCTest
@testable import KithUV

final class HTTPEventStreamTests: XCTestCase {
    func testEventEncodingSplitsDataLinesAndKeepsFieldsOnOneLine() {
        XCTAssertEqual(String(decoding: ServerSentEvent(data: "x").encoded, as: UTF8.self), "data: x\n\n")
        let event = ServerSentEvent(event: "member\ndead", data: "a\nb\r\nc\rd", id: "7\r")
        XCTAssertEqual(String(decoding: event.encoded, as: UTF8.self),
                       "event: memberdead\nid: 7\ndata: a\ndata: b\ndata: c\ndata: d\n\n")
        XCTAssertEqual(String(decoding: ServerSentEvent(data: "").encoded, as: UTF8.self), "data: \n\n")
    }

    func testStreamDeliversInitialThenPublishedEventsWhileOtherRoutesStillAnswer() throws {
        let channel = HTTPEventChannel()
        let harness = try HTTPServerHarness { request in
            request.path == "/stream"
                ? .eventStream(channel, initialEvents: [ServerSentEvent(event: "snapshot", data: "{}")])
                : .text("ok")
        }
        defer { harness.stop() }
        let subscriber = try HTTPTestClient(port: harness.port)
        subscriber.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try XCTUnwrap(subscriber.readResponse(bodyExpected: false))
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["content-type"], "text/event-stream")
        XCTAssertNil(head.headers["content-length"], "a stream is delimited by the connection's end")
        let snapshot = Array("event: snapshot\ndata: {}\n\n".utf8)
        XCTAssertEqual(subscriber.take(snapshot.count), snapshot)

        XCTAssertEqual(harness.onLoop { channel.clientCount }, 1)
        harness.onLoop {
            channel.publish(ServerSentEvent(event: "member", data: "node-2 dead", id: "1"))
            channel.heartbeat()
            channel.publish(ServerSentEvent(data: "line1\nline2"))
        }
        let expected = Array("event: member\nid: 1\ndata: node-2 dead\n\n:\n\ndata: line1\ndata: line2\n\n".utf8)
        XCTAssertEqual(subscriber.take(expected.count), expected)

        XCTAssertEqual(try XCTUnwrap(HTTPTestClient(port: harness.port).get("/other")).text, "ok")
        // The stream has no deadline; bytes the subscriber sends are ignored.
        subscriber.send("GET /other HTTP/1.1\r\n\r\n")
        harness.onLoop { channel.publish(ServerSentEvent(data: "still here")) }
        XCTAssertEqual(subscriber.take(18), Array("data: still here\n\n".utf8))
    }

    func testHEADOnAStreamGetsTheHeadAndDoesNotSubscribe() throws {
        let channel = HTTPEventChannel()
        let harness = try HTTPServerHarness { _ in .eventStream(channel) }
        defer { harness.stop() }
        let client = try HTTPTestClient(port: harness.port)
        XCTAssertEqual(try XCTUnwrap(client.get("/stream", method: "HEAD")).headers["content-type"], "text/event-stream")
        XCTAssertTrue(client.isClosedByServer())
        XCTAssertEqual(harness.onLoop { channel.clientCount }, 0)
    }

    func testLeavingClientIsUnsubscribed() throws {
        let channel = HTTPEventChannel()
        let harness = try HTTPServerHarness { _ in .eventStream(channel) }
        defer { harness.stop() }
        var client: HTTPTestClient? = try HTTPTestClient(port: harness.port)
        client?.send("GET /stream HTTP/1.1\r\n\r\n")
        XCTAssertNotNil(client?.readResponse(bodyExpected: false))
        client = nil
        var count = 1
        for _ in 0..<100 where count > 0 {  // the server sees the end of stream on a later loop iteration
            usleep(10_000)
            count = harness.onLoop { channel.clientCount }
        }
        XCTAssertEqual(count, 0)
        XCTAssertEqual(harness.onLoop { channel.clientsDropped }, 0, "leaving is not being dropped")
        XCTAssertEqual(harness.onLoop { harness.server.connectionCount }, 0)
    }

    func testAClientThatStopsReadingIsDroppedWhileAReadingOneGetsEveryEvent() throws {
        let channel = HTTPEventChannel()
        var settings = HTTPServer.Settings()
        settings.sendQueueBytesMax = 64 << 10
        let harness = try HTTPServerHarness(settings: settings) { _ in .eventStream(channel) }
        defer { harness.stop() }
        let stalled = try HTTPTestClient(port: harness.port, receiveBufferBytes: 4096)
        let reader = try HTTPTestClient(port: harness.port)
        for client in [stalled, reader] {
            client.send("GET /stream HTTP/1.1\r\n\r\n")
            XCTAssertNotNil(client.readResponse(bodyExpected: false))
        }
        let event = ServerSentEvent(data: String(repeating: "x", count: 4000))
        let eventsPerRound = 16
        var rounds = 0
        // The stalled client's kernel buffers and then its 64 KiB queue fill; it must go within 400 rounds
        // (25 MB), while the reader drains each round and so never falls behind.
        while harness.onLoop({ channel.clientsDropped }) == 0, rounds < 400 {
            rounds += 1
            harness.onLoop { for _ in 0..<eventsPerRound { channel.publish(event) } }
            let round = try XCTUnwrap(reader.take(eventsPerRound * event.encoded.count), "round \(rounds)")
            XCTAssertEqual(Array(round.prefix(event.encoded.count)), event.encoded)
        }
        XCTAssertEqual(harness.onLoop { channel.clientsDropped }, 1, "after \(rounds) rounds")
        XCTAssertEqual(harness.onLoop { channel.clientCount }, 1)
        harness.onLoop { channel.publish(ServerSentEvent(data: "after")) }
        XCTAssertEqual(reader.take(13), Array("data: after\n\n".utf8), "the reader is still subscribed")
        XCTAssertTrue(stalled.isClosedByServer(), "the stalled client sees its connection end")
    }
}
