import XCTest
@testable import KithUV

/// Caps and deadlines of `ConnectionPool`, against real sockets on 127.0.0.1.
final class ConnectionPoolTests: XCTestCase {
    private let framing = Framing.lengthPrefixed(maxFrameBytes: 1 << 20)

    /// A listener whose connections go through `pool`; a frame proves its sender. Records each shed
    /// connection by its client port.
    private final class Server {
        let pool: ConnectionPool
        let listener: TCPListener
        var shed: [UInt16: ConnectionPool.Shed] = [:]
        var held: [UInt16: TCPConnection] = [:]
        /// The client ports held when the test stopped the loop (closing the loop closes them all).
        var heldAtStop: Set<UInt16> = []

        func stop(_ loop: EventLoop) {
            heldAtStop = Set(held.keys)
            loop.stop()
        }

        init(loop: EventLoop, limits: ConnectionPool.Limits, framing: Framing, answer: Bool = false) throws {
            let pool = ConnectionPool(loop: loop, limits: limits)
            self.pool = pool
            var accepted: ((TCPConnection) -> Void)?
            listener = try TCPListener(loop: loop, host: "127.0.0.1", port: 0, framing: framing) { accepted?($0) }
            pool.onShed = { [unowned self] connection, why in shed[Self.port(of: connection)] = why }
            accepted = { [unowned self] connection in
                guard pool.admit(connection) else { return }
                held[Self.port(of: connection)] = connection
                connection.onFrame = { [unowned connection] frame in
                    pool.noteValid(connection)
                    if answer { connection.send(frame) }
                }
                connection.onClose = { [unowned self, unowned connection] _ in
                    pool.remove(connection)
                    held[Self.port(of: connection)] = nil
                }
            }
        }

        static func port(of connection: StreamConnection) -> UInt16 {
            UInt16(connection.peerAddress.split(separator: ":").last ?? "") ?? 0
        }
    }

    private func limits(
        max: Int, perAddress: Int? = nil, hello: Duration = .seconds(30), silentMayWait: Bool = true,
        idle: Duration = .seconds(30), eviction: ConnectionPool.Eviction = .oldestUnproven
    ) -> ConnectionPool.Limits {
        .init(connectionsMax: max, connectionsPerAddressMax: perAddress ?? max, helloDeadline: hello,
              silentMayWait: silentMayWait, idleDeadline: idle, eviction: eviction)
    }

    /// Runs `steps` one every 60 ms on the loop (connects and writes need the loop to accept and read
    /// in between), then stops the loop 200 ms after the last.
    private func inSteps(_ loop: EventLoop, _ server: Server, _ steps: [() throws -> Void]) {
        for (index, step) in steps.enumerated() {
            Timer(loop: loop).start(afterMilliseconds: UInt64(60 * (index + 1))) {
                do { try step() } catch { XCTFail("step \(index): \(error)") }
            }
        }
        Timer(loop: loop).start(afterMilliseconds: UInt64(60 * steps.count + 200)) { server.stop(loop) }
    }

    func testFullPoolEvictsTheOldestUnprovenAndRefusesWhenAllHaveSpoken() throws {
        var sockets: [RawSocket] = []
        var server: Server?
        try runLoop { loop in
            let s = try Server(loop: loop, limits: limits(max: 2), framing: framing)
            server = s
            let connect = { sockets.append(try RawSocket(connectingTo: s.listener.boundPort)) }
            inSteps(loop, s, [
                connect, connect,                       // 0 and 1 held
                { sockets[0].write(framed([1])) },      // 0 proves itself
                connect,                                // 2 evicts 1, the oldest unproven
                { sockets[2].write(framed([2])) },      // 2 proves itself: both held have spoken
                connect,                                // 3 is refused
            ])
        }
        let s = try XCTUnwrap(server)
        XCTAssertEqual(s.shed[sockets[1].port], .evicted)
        XCTAssertEqual(s.shed[sockets[3].port], .refused)
        XCTAssertEqual(s.heldAtStop, [sockets[0].port, sockets[2].port])
        XCTAssertEqual([s.pool.evictedCount, s.pool.refusedCount], [1, 1])
    }

    func testOneAddressCannotTakeMoreThanItsShare() throws {
        var sockets: [RawSocket] = []
        var server: Server?
        try runLoop { loop in
            let s = try Server(loop: loop, limits: limits(max: 10, perAddress: 2), framing: framing)
            server = s
            let connect = { sockets.append(try RawSocket(connectingTo: s.listener.boundPort)) }
            inSteps(loop, s, [connect, connect, { sockets.forEach { $0.write(framed([1])) } }, connect])
        }
        let s = try XCTUnwrap(server)
        XCTAssertEqual(s.heldAtStop.count, 2)
        XCTAssertEqual(s.shed[sockets[2].port], .refused, "a third connection from 127.0.0.1 is over the per-address cap")
    }

    func testAFloodOfIdleConnectionsCannotLockOutAClientThatSpeaks() throws {
        // The control port's policy: the longest-quiet connection makes room.
        var idle: [RawSocket] = []
        var answer: [UInt8]?
        var server: Server?
        let lines = Framing.lines(maxLineBytes: 1024)
        try runLoop { loop in
            let s = try Server(loop: loop, limits: limits(max: 4, silentMayWait: false, eviction: .leastRecentlyActive),
                               framing: lines, answer: true)
            server = s
            for _ in 0..<10 { idle.append(try RawSocket(connectingTo: s.listener.boundPort)) }
            Timer(loop: loop).start(afterMilliseconds: 100) {
                connectClient(loop: loop, port: s.listener.boundPort, framing: lines) { client in
                    client.onFrame = { frame in
                        answer = frame
                        loop.stop()
                    }
                    client.send(Array("kill-switch".utf8))
                }
            }
        }
        let s = try XCTUnwrap(server)
        XCTAssertEqual(answer, Array("kill-switch".utf8))
        XCTAssertEqual(s.pool.evictedCount, 7, "10 idle connections and one client through 4 places")
        XCTAssertEqual(s.pool.refusedCount, 0)
    }

    func testHelloDeadlineClosesAPartialFrameButASilentConnectionMayWait() throws {
        var sockets: [RawSocket] = []
        var server: Server?
        try runLoop { loop in
            let s = try Server(loop: loop, limits: limits(max: 8, hello: .milliseconds(200)), framing: framing)
            server = s
            sockets.append(try RawSocket(connectingTo: s.listener.boundPort))  // silent
            sockets.append(try RawSocket(connectingTo: s.listener.boundPort))  // starts a frame, never ends it
            sockets[1].write([0, 0, 0, 100, 1, 2, 3])
            Timer(loop: loop).start(afterMilliseconds: 600) { s.stop(loop) }
        }
        let s = try XCTUnwrap(server)
        XCTAssertEqual(s.shed[sockets[1].port], .helloExpired)
        XCTAssertNil(s.shed[sockets[0].port])
        XCTAssertEqual(s.heldAtStop, [sockets[0].port])
    }

    func testHelloDeadlineClosesSilentConnectionsWhenTheyMayNotWait() throws {
        var socket: RawSocket?
        var server: Server?
        try runLoop { loop in
            let s = try Server(loop: loop, limits: limits(max: 8, hello: .milliseconds(200), silentMayWait: false),
                               framing: framing)
            server = s
            socket = try RawSocket(connectingTo: s.listener.boundPort)
            Timer(loop: loop).start(afterMilliseconds: 600) { s.stop(loop) }
        }
        let s = try XCTUnwrap(server)
        XCTAssertEqual(s.shed[try XCTUnwrap(socket).port], .helloExpired)
        XCTAssertTrue(s.heldAtStop.isEmpty)
    }

    func testIdleDeadlineClosesAQuietPeerAndSparesATalkingOne() throws {
        var quiet: RawSocket?
        var talking: RawSocket?
        var server: Server?
        try runLoop { loop in
            let s = try Server(loop: loop, limits: limits(max: 8, idle: .milliseconds(300)), framing: framing)
            server = s
            quiet = try RawSocket(connectingTo: s.listener.boundPort)
            talking = try RawSocket(connectingTo: s.listener.boundPort)
            quiet?.write(framed([1]))
            let ticker = Timer(loop: loop)
            ticker.start(afterMilliseconds: 0, repeatMilliseconds: 50) { talking?.write(framed([2])) }
            Timer(loop: loop).start(afterMilliseconds: 900) { s.stop(loop) }
        }
        let s = try XCTUnwrap(server)
        XCTAssertEqual(s.shed[try XCTUnwrap(quiet).port], .idleExpired)
        XCTAssertEqual(s.heldAtStop, [try XCTUnwrap(talking).port])
        XCTAssertEqual(s.pool.expiredCount, 1)
    }

    func testHostOfAnAddressDropsThePort() {
        XCTAssertEqual(ConnectionPool.host(of: "127.0.0.1:7946"), "127.0.0.1")
        XCTAssertEqual(ConnectionPool.host(of: "[::1]:7946"), "::1")
        XCTAssertEqual(ConnectionPool.host(of: "unix"), "unix")
    }
}
