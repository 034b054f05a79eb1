import XCTest
@testable import KithUV

final class TCPTests: XCTestCase {
    private let framing = Framing.lengthPrefixed(maxFrameBytes: 1 << 20)

    func testFramedEchoReturnsEveryFrameInOrderAndCountsBytes() throws {
        // Frames from empty to 300 kB: small ones share reads, the large one spans several 64 KiB reads.
        let payloads = (0..<200).map { index in
            [UInt8](repeating: UInt8(index % 256), count: index == 7 ? 300_000 : index * 37 % 1000)
        }
        let wireBytes = UInt64(payloads.reduce(0) { $0 + 4 + $1.count })
        var echoed: [[UInt8]] = []
        var client: TCPConnection?
        try runLoop { loop in
            let listener = try echoListener(loop: loop, framing: framing)
            connectClient(loop: loop, port: listener.boundPort, framing: framing) { connection in
                client = connection
                connection.onFrame = { frame in
                    echoed.append(frame)
                    if echoed.count == payloads.count { loop.stop() }
                }
                for payload in payloads { XCTAssertTrue(connection.send(payload)) }
            }
        }
        XCTAssertEqual(echoed, payloads)
        XCTAssertEqual(client?.bytesSent, wireBytes)
        XCTAssertEqual(client?.bytesReceived, wireBytes)
        XCTAssertEqual(client?.peerAddress.hasPrefix("127.0.0.1:"), true)
    }

    func testFramesSplitAcrossWritesAndPackedIntoOneWriteArriveWhole() throws {
        let payloads: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 7, count: 1000), [4]]
        let stream = payloads.flatMap { framed($0) }
        var received: [[UInt8]] = []
        var raw: RawSocket?
        try runLoop { loop in
            let listener = try TCPListener(loop: loop, host: "127.0.0.1", port: 0, framing: framing) { connection in
                connection.onFrame = { frame in
                    received.append(frame)
                    if received.count == 2 * payloads.count { loop.stop() }
                }
            }
            let socket = try RawSocket(connectingTo: listener.boundPort)
            raw = socket
            // All frames in one write, then the same frames again cut mid-prefix and mid-payload.
            socket.write(stream)
            socket.write(Array(stream[..<2]))
            Timer(loop: loop).start(afterMilliseconds: 20) { socket.write(Array(stream[2..<10])) }
            Timer(loop: loop).start(afterMilliseconds: 40) { socket.write(Array(stream[10...])) }
        }
        XCTAssertEqual(received, payloads + payloads)
        withExtendedLifetime(raw) {}
    }

    func testLinesEchoWithoutTheirNewlinesAndRefuseEmbeddedNewlines() throws {
        let lines: [[UInt8]] = [Array("hello".utf8), [], Array("world".utf8)]
        let framing = Framing.lines(maxLineBytes: 64)
        var echoed: [[UInt8]] = []
        var client: TCPConnection?
        try runLoop { loop in
            let listener = try echoListener(loop: loop, framing: framing)
            connectClient(loop: loop, port: listener.boundPort, framing: framing) { connection in
                client = connection
                connection.onFrame = { line in
                    echoed.append(line)
                    if echoed.count == lines.count { loop.stop() }
                }
                XCTAssertFalse(connection.send(Array("two\nlines".utf8)))
                for line in lines { XCTAssertTrue(connection.send(line)) }
            }
        }
        XCTAssertEqual(echoed, lines)
        XCTAssertEqual(client?.bytesSent, 13)
    }

    func testOversizedLengthPrefixClosesWithFramingViolationAndTheListenerKeepsAccepting() throws {
        var reasons: [CloseReason] = []
        var echoed: [[UInt8]] = []
        var raw: RawSocket?
        try runLoop { loop in
            let framing = Framing.lengthPrefixed(maxFrameBytes: 1024)
            let listener = try TCPListener(loop: loop, host: "127.0.0.1", port: 0, framing: framing) { connection in
                connection.onFrame = { connection.send($0) }
                connection.onClose = { reasons.append($0) }
            }
            raw = try RawSocket(connectingTo: listener.boundPort)
            raw?.write([0, 0, 4, 1])  // 1025 bytes announced
            Timer(loop: loop).start(afterMilliseconds: 30) {
                connectClient(loop: loop, port: listener.boundPort, framing: framing) { client in
                    client.onFrame = {
                        echoed.append($0)
                        loop.stop()
                    }
                    client.send([42])
                }
            }
        }
        XCTAssertEqual(reasons.count, 2)  // the violator, then the good client at cleanup
        guard case .framingViolation = reasons.first else { return XCTFail("got \(reasons)") }
        XCTAssertEqual(echoed, [[42]])
    }

    func testRandomGarbageNeverCrashesAndTheListenersSurvive() throws {
        var generator = SystemRandomNumberGenerator()
        var sockets: [RawSocket] = []
        var echoed = 0
        try runLoop { loop in
            let framings: [Framing] = [.lengthPrefixed(maxFrameBytes: 1024), .lines(maxLineBytes: 32)]
            for framing in framings {
                let listener = try echoListener(loop: loop, framing: framing)
                for _ in 0..<10 {
                    let socket = try RawSocket(connectingTo: listener.boundPort)
                    socket.write((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) })
                    sockets.append(socket)
                }
                Timer(loop: loop).start(afterMilliseconds: 50) {
                    connectClient(loop: loop, port: listener.boundPort, framing: framing) { client in
                        client.onFrame = { _ in
                            echoed += 1
                            if echoed == framings.count { loop.stop() }
                        }
                        client.send([1, 2, 3])
                    }
                }
            }
        }
        XCTAssertEqual(echoed, 2)
    }

    func testConnectingToAClosedPortIsRefused() throws {
        var failure: UVError?
        try runLoop { loop in
            let probe = try TCPListener(loop: loop, host: "127.0.0.1", port: 0, framing: framing) { _ in }
            let port = probe.boundPort
            probe.close()
            TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port, framing: framing) { result in
                if case .failure(let error) = result { failure = error }
                loop.stop()
            }
        }
        XCTAssertEqual(failure?.isConnectionRefused, true, "\(String(describing: failure))")
        XCTAssertEqual(failure?.description, "ECONNREFUSED: connection refused")
    }

    func testConnectThatOutlivesItsTimeoutFailsWithETIMEDOUTExactlyOnce() throws {
        var results: [Result<TCPConnection, UVError>] = []
        try runLoop { loop in
            let listener = try echoListener(loop: loop, framing: framing)
            // A zero timeout expires in the loop's first timer phase, before resolution can complete.
            TCPConnection.connect(loop: loop, host: "127.0.0.1", port: listener.boundPort, framing: framing,
                                  timeoutMilliseconds: 0) { results.append($0) }
            Timer(loop: loop).start(afterMilliseconds: 100) { loop.stop() }
        }
        XCTAssertEqual(results.count, 1)
        guard case .failure(let error) = results.first else { return XCTFail("got \(results)") }
        XCTAssertEqual(error.name, "ETIMEDOUT")
    }

    func testConnectResolvesLocalhostThroughDNS() throws {
        var peer: String?
        var port: UInt16 = 0
        try runLoop { loop in
            let listener = try echoListener(loop: loop, framing: framing)
            port = listener.boundPort
            TCPConnection.connect(loop: loop, host: "localhost", port: port, framing: framing) { result in
                peer = try? result.get().peerAddress
                loop.stop()
            }
        }
        XCTAssertEqual(peer, "127.0.0.1:\(port)")
    }

    func testSendRefusesOnceTheQueueLimitIsReachedWhileThePeerDoesNotRead() throws {
        let sink = try RawSocket(listeningNeverAccepting: ())
        let limit = 1 << 20
        let chunk = [UInt8](repeating: 1, count: 60_000)
        var queuedWhenRefused: Int?
        try runLoop { loop in
            connectClient(loop: loop, port: sink.port, framing: framing, maxQueuedBytes: limit) { client in
                let pump = Timer(loop: loop)
                pump.start(afterMilliseconds: 0, repeatMilliseconds: 1) {
                    for _ in 0..<16 where !client.send(chunk) {
                        queuedWhenRefused = client.queuedBytes
                        pump.close()
                        loop.stop()
                        return
                    }
                }
            }
        }
        let queued = try XCTUnwrap(queuedWhenRefused)
        XCTAssertLessThanOrEqual(queued, limit)
        XCTAssertGreaterThan(queued + chunk.count + 4, limit)
    }

    func testDrainFollowsTheLastCompletedWrite() throws {
        var drains = 0
        var queuedAtDrain: Int?
        try runLoop { loop in
            let listener = try echoListener(loop: loop, framing: framing)
            connectClient(loop: loop, port: listener.boundPort, framing: framing) { client in
                client.onDrain = {
                    drains += 1
                    queuedAtDrain = client.queuedBytes
                    Timer(loop: loop).start(afterMilliseconds: 20) { loop.stop() }
                }
                for _ in 0..<3 { client.send([UInt8](repeating: 0, count: 1000)) }
                XCTAssertEqual(client.queuedBytes, 3 * 1004)
            }
        }
        XCTAssertEqual(drains, 1)
        XCTAssertEqual(queuedAtDrain, 0)
    }

    func testCloseReportsLocalExactlyOnceAndThePeerSeesEndOfStream() throws {
        var clientReasons: [String] = []
        var serverReasons: [String] = []
        try runLoop { loop in
            let listener = try TCPListener(loop: loop, host: "127.0.0.1", port: 0, framing: framing) { connection in
                connection.onClose = {
                    serverReasons.append("\($0)")
                    loop.stop()
                }
            }
            connectClient(loop: loop, port: listener.boundPort, framing: framing) { client in
                client.onClose = { clientReasons.append("\($0)") }
                client.close()
                client.close()
                XCTAssertFalse(client.isOpen)
                XCTAssertFalse(client.send([1]))
            }
        }
        XCTAssertEqual(clientReasons, ["closed locally"])
        XCTAssertEqual(serverReasons, ["end of stream"])
    }

    func testShutdownAndCloseFlushesQueuedFramesFirst() throws {
        var received = 0
        var serverReason: String?
        var clientReason: String?
        try runLoop { loop in
            let listener = try TCPListener(loop: loop, host: "127.0.0.1", port: 0, framing: framing) { connection in
                connection.onFrame = { _ in received += 1 }
                connection.onClose = {
                    serverReason = "\($0)"
                    loop.stop()
                }
            }
            connectClient(loop: loop, port: listener.boundPort, framing: framing) { client in
                client.onClose = { clientReason = "\($0)" }
                for _ in 0..<100 { client.send([UInt8](repeating: 5, count: 10_000)) }
                client.shutdownAndClose()
                XCTAssertFalse(client.isOpen)
            }
        }
        XCTAssertEqual(received, 100)
        XCTAssertEqual(serverReason, "end of stream")
        XCTAssertEqual(clientReason, "closed locally")
    }
}
