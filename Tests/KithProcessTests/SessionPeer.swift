import Foundation
import Glibc
import KithCore
import KithCrypto

/// A test peer that holds the cluster key and speaks the gossip port's
/// session protocol (`FrameSession`) with raw sockets: it dials a daemon and
/// sends sealed frames, keeping each frame's bytes so a test can replay them,
/// and it listens where the daemon replies, opening what arrives.
final class SessionPeer {
    let key: ClusterKey
    /// Messages the daemon sent to `listenEndpoint`, in order.
    private(set) var received: [Message] = []
    private var listenFD: Int32 = -1
    private var inbound: [(fd: Int32, session: FrameSession, buffer: [UInt8])] = []
    private(set) var listenEndpoint = ""

    /// A peer with `lab`'s cluster key (`cluster.keys` in its directory), listening on a free loopback port.
    init(keyFile: String) throws {
        let text = try String(contentsOfFile: keyFile, encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { !$0.hasPrefix("#") }),
              let colon = line.firstIndex(of: ":"), let id = UInt8(line[..<colon]),
              let bytes = Hex.decode(String(line[line.index(after: colon)...])), let key = ClusterKey(id: id, bytes: bytes) else {
            throw HarnessError("no cluster key in \(keyFile)")
        }
        self.key = key
        let port = try freeLoopbackPort()
        listenFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listenFD, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = SessionPeer.loopback(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listenFD, 16) == 0 else { throw HarnessError("cannot listen on \(port): \(errno)") }
        listenEndpoint = "127.0.0.1:\(port)"
    }

    deinit {
        close(listenFD)
        for connection in inbound where connection.fd >= 0 { close(connection.fd) }
    }

    static func loopback(_ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// One dialed connection: the daemon's hello is read, ours sent; `sent` keeps every frame written.
    final class Connection {
        let fd: Int32
        var session: FrameSession
        private(set) var sent: [[UInt8]] = []

        /// Dials `endpoint`; `hello` replaces this end's fresh hello (to replay a captured one).
        init(to endpoint: String, hello: [UInt8]? = nil) throws {
            guard let colon = endpoint.lastIndex(of: ":"), let port = UInt16(endpoint[endpoint.index(after: colon)...]) else {
                throw HarnessError("bad endpoint \(endpoint)")
            }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = SessionPeer.loopback(port)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { close(fd); throw HarnessError("connect to \(endpoint): \(errno)") }
            self.fd = fd
            session = FrameSession(role: .dialer, nonce: hello.map { Array($0.suffix(FrameSession.nonceBytes)) } ?? FrameSession.freshNonce())!
            var buffer: [UInt8] = []
            guard let hello = SessionPeer.readFrame(fd, into: &buffer, timeoutMs: 3000) else {
                close(fd)
                throw HarnessError("no hello from \(endpoint)")
            }
            guard case .success(.hello) = session.open(hello, key: { _ in nil }) else {
                close(fd)
                throw HarnessError("not a hello from \(endpoint): \(hello.prefix(4))")
            }
            try writeFrame(session.hello)
        }

        deinit { close(fd) }

        /// Seals and sends `payload`; returns the frame as written (to replay it later).
        @discardableResult
        func send(_ payload: [UInt8], key: ClusterKey) throws -> [UInt8] {
            guard let frame = session.seal(payload, with: key) else { throw HarnessError("cannot seal") }
            try writeFrame(frame)
            return frame
        }

        /// Writes `frame` with its length prefix, as is.
        func writeFrame(_ frame: [UInt8]) throws {
            let bytes = withUnsafeBytes(of: UInt32(frame.count).bigEndian, Array.init) + frame
            var written = 0
            while written < bytes.count {
                let n = bytes[written...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { throw HarnessError("write: \(errno)") }
                written += n
            }
            sent.append(frame)
        }

        /// Whether the daemon closed the connection within `timeoutMs`.
        func isClosedByPeer(withinMs timeoutMs: Int32) -> Bool {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, timeoutMs) > 0 else { return false }
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) <= 0
        }
    }

    /// One length-prefixed frame from `fd`, waiting at most `timeoutMs`; nil on timeout or close.
    static func readFrame(_ fd: Int32, into buffer: inout [UInt8], timeoutMs: Int32) -> [UInt8]? {
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while true {
            if let frame = takeFrame(&buffer) { return frame }
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&pfd, 1, left) > 0 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { return nil }
            buffer += chunk.prefix(n)
        }
    }

    private static func takeFrame(_ buffer: inout [UInt8]) -> [UInt8]? {
        guard buffer.count >= 4 else { return nil }
        let length = Int(buffer[0]) << 24 | Int(buffer[1]) << 16 | Int(buffer[2]) << 8 | Int(buffer[3])
        guard buffer.count >= 4 + length else { return nil }
        let frame = Array(buffer[4..<(4 + length)])
        buffer.removeFirst(4 + length)
        return frame
    }

    /// Accepts the daemon's connections to `listenEndpoint` and reads what they carry, until
    /// `condition` holds on the messages received or `timeout` seconds pass.
    func pump(timeout: Double, until condition: ([Message]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(received) { return true }
            var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)]
            fds += inbound.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 50) > 0 else { continue }
            if fds[0].revents != 0 {
                let fd = accept(listenFD, nil, nil)
                if fd >= 0, let session = FrameSession(role: .acceptor, nonce: FrameSession.freshNonce()) {
                    let hello = session.hello
                    let bytes = withUnsafeBytes(of: UInt32(hello.count).bigEndian, Array.init) + hello
                    _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    inbound.append((fd, session, []))
                }
            }
            for index in 0..<(fds.count - 1) where fds[index + 1].revents != 0 {  // not the one just accepted
                var chunk = [UInt8](repeating: 0, count: 65536)
                let n = recv(inbound[index].fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
                guard n > 0 else {
                    if n == 0 { close(inbound[index].fd); inbound[index].fd = -1 }  // poll skips it from now on
                    continue
                }
                inbound[index].buffer += chunk.prefix(n)
                while let frame = SessionPeer.takeFrame(&inbound[index].buffer) {
                    let key = self.key
                    if case .success(.payload(let payload)) = inbound[index].session.open(frame, key: { $0 == key.id ? key : nil }) {
                        received += SessionPeer.unbatch(payload).compactMap { try? WireCodec.decode($0) }
                    }
                }
            }
        }
        return condition(received)
    }

    /// The payloads of a frame: a batch (`[0xAC]` then length-prefixed payloads) or one payload.
    static func unbatch(_ frame: ArraySlice<UInt8>) -> [[UInt8]] {
        guard frame.first == 0xAC else { return [Array(frame)] }
        var r = ByteReader(frame.dropFirst())
        var payloads: [[UInt8]] = []
        while !r.isAtEnd, let payload = try? r.bytes(maxBytes: WireCodec.maxFrameBytes) { payloads.append(payload) }
        return payloads
    }

    /// The acks received for probe `seq`.
    func acks(_ seq: UInt32) -> Int {
        received.filter { if case .ack(seq, _, _) = $0 { true } else { false } }.count
    }
}
