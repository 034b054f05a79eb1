import CSodium

/// The replay protection of one connection's cluster-key frames.
///
/// A MAC under the cluster key alone proves who made a frame, not when: a
/// captured frame would be accepted again, on its own connection or a new
/// one. So each side of a connection first sends a hello with a fresh random
/// nonce, and every later frame's MAC covers both nonces, its direction and
/// a counter that must grow: a frame is valid on one connection, in one
/// direction, once. The hellos need no MAC (a forged nonce only makes the
/// forger's own frames fail), and the frames name their key, so a keyring
/// of several keys keeps rotating without downtime.
///
/// Wire forms (the transport adds the length prefix):
/// - hello: `[0xAF][version 1][nonce: 16 bytes]`
/// - frame: `[0xAD][key id][tag: 4 bytes][counter: varint][MAC: 16 bytes][payload]`
///
/// The tag is the first bytes of the receiver's nonce: a frame whose tag is
/// not this connection's was sealed for another connection (a replay, or a
/// forgery of one) and is refused as replayed without a MAC check. The MAC
/// is HMAC-SHA-512-256 over `dialer nonce ‖ acceptor nonce ‖ direction ‖
/// header ‖ payload`, cut to 16 bytes (128 bits, as RFC 2104 allows), which
/// keeps the small probe frames small.
public struct FrameSession: Sendable {
    /// Which end of the connection this is: the dialer speaks first on its connection.
    public enum Role: UInt8, Sendable {
        case dialer = 0, acceptor = 1
    }

    /// What an incoming frame turned out to be.
    public enum Received: Equatable, Sendable {
        /// The peer's hello: the session is established.
        case hello
        /// An authenticated, fresh payload.
        case payload(ArraySlice<UInt8>)
    }

    /// Why an incoming frame is refused; either way it is dropped and the connection closed.
    public enum Refusal: Error, Equatable, Sendable {
        /// No valid MAC, no hello first, or not a session frame at all.
        case unauthenticated(String)
        /// Authentic once, but sealed for another connection or direction, or not newer than the last.
        case replayed(String)
    }

    public static let helloMarker: UInt8 = 0xAF
    public static let frameMarker: UInt8 = 0xAD
    public static let version: UInt8 = 1
    public static let nonceBytes = 16
    public static let tagBytes = 4
    public static let macBytes = 16
    public static let helloBytes = 2 + nonceBytes
    /// A frame's largest header: marker, key id, tag, a 10-byte varint, MAC.
    public static let headerBytesMax = 2 + tagBytes + 10 + macBytes

    public let role: Role
    /// This end's fresh nonce, sent in `hello`.
    public let nonce: [UInt8]
    /// The other end's nonce, once its hello arrived.
    public private(set) var peerNonce: [UInt8]?
    /// The counter of the last frame sealed here, and of the last one accepted.
    public private(set) var sentCounter: UInt64 = 0
    public private(set) var receivedCounter: UInt64 = 0

    /// A session with `nonce` (from `freshNonce()`, injected so tests can fix it); nil unless 16 bytes.
    public init?(role: Role, nonce: [UInt8]) {
        guard nonce.count == FrameSession.nonceBytes else { return nil }
        self.role = role
        self.nonce = nonce
    }

    /// 16 bytes from the operating system's random source.
    public static func freshNonce() -> [UInt8] {
        Sodium.ensureInitialized()
        var bytes = [UInt8](repeating: 0, count: nonceBytes)
        randombytes_buf(&bytes, nonceBytes)
        return bytes
    }

    /// The frame to send first.
    public var hello: [UInt8] { [FrameSession.helloMarker, FrameSession.version] + nonce }

    /// Whether the peer's hello arrived, so that frames can be sealed and opened.
    public var isEstablished: Bool { peerNonce != nil }

    /// The frame carrying `payload`, sealed with `key`; nil before the peer's hello, or when the
    /// counter is at its top (the connection must then be replaced, never wrap).
    public mutating func seal(_ payload: [UInt8], with key: ClusterKey) -> [UInt8]? {
        guard let peerNonce, sentCounter < UInt64.max else { return nil }
        sentCounter += 1
        var frame: [UInt8] = [FrameSession.frameMarker, key.id]
        frame.reserveCapacity(FrameSession.headerBytesMax + payload.count)
        frame += peerNonce.prefix(FrameSession.tagBytes)
        FrameSession.appendVarint(sentCounter, to: &frame)
        let mac = tag(key, direction: role, header: frame[...], payload: payload[...])
        frame += mac
        frame += payload
        return frame
    }

    /// The peer's hello or an authenticated fresh payload; a refusal otherwise. `key` finds an installed key by id.
    public mutating func open(_ frame: [UInt8], key: (UInt8) -> ClusterKey?) -> Result<Received, Refusal> {
        guard isEstablished else {
            guard frame.count == FrameSession.helloBytes, frame[0] == FrameSession.helloMarker else {
                return .failure(.unauthenticated("no hello before the first frame"))
            }
            guard frame[1] == FrameSession.version else { return .failure(.unauthenticated("hello version \(frame[1])")) }
            self.peerNonce = Array(frame[2...])
            return .success(.hello)
        }
        guard frame.first == FrameSession.frameMarker, frame.count >= 2 + FrameSession.tagBytes + 1 + FrameSession.macBytes else {
            return .failure(.unauthenticated(frame.first == FrameSession.helloMarker ? "a second hello" : "not a sealed frame"))
        }
        guard let key = key(frame[1]) else { return .failure(.unauthenticated("no cluster key \(frame[1]) is installed")) }
        let tagEnd = 2 + FrameSession.tagBytes
        guard frame[2..<tagEnd].elementsEqual(nonce.prefix(FrameSession.tagBytes)) else {
            return .failure(.replayed("sealed for another connection"))
        }
        guard let (counter, macStart) = FrameSession.readVarint(frame, at: tagEnd),
              macStart + FrameSession.macBytes <= frame.count else {
            return .failure(.unauthenticated("bad frame counter"))
        }
        let payloadStart = macStart + FrameSession.macBytes
        let peerRole: Role = role == .dialer ? .acceptor : .dialer
        let expected = tag(key, direction: peerRole, header: frame[..<macStart], payload: frame[payloadStart...])
        guard constantTimeEqual(expected, frame[macStart..<payloadStart]) else {
            return .failure(.unauthenticated("bad MAC"))
        }
        guard counter > receivedCounter else {
            return .failure(.replayed("counter \(counter) after \(receivedCounter)"))
        }
        receivedCounter = counter
        return .success(.payload(frame[payloadStart...]))
    }

    /// The truncated MAC of a frame sent by `direction`'s end of this connection.
    private func tag(_ key: ClusterKey, direction: Role, header: ArraySlice<UInt8>, payload: ArraySlice<UInt8>) -> [UInt8] {
        let peer = peerNonce ?? []
        let (dialer, acceptor) = role == .dialer ? (nonce, peer) : (peer, nonce)
        let full = key.mac(parts: [dialer[...], acceptor[...], [direction.rawValue][...], header, payload])
        return Array(full.prefix(FrameSession.macBytes))
    }

    static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// A canonical LEB128 varint at `offset` and the offset after it; nil if cut short, overlong or past 64 bits.
    static func readVarint(_ bytes: [UInt8], at offset: Int) -> (UInt64, Int)? {
        var value: UInt64 = 0
        var index = offset
        for shift in stride(from: 0, to: 64, by: 7) {
            guard index < bytes.count else { return nil }
            let byte = bytes[index]
            index += 1
            let bits = UInt64(byte & 0x7F)
            guard shift < 63 || bits <= 1 else { return nil }
            value |= bits << UInt64(shift)
            if byte & 0x80 == 0 {
                guard byte != 0 || index == offset + 1 else { return nil }  // no overlong encodings
                return (value, index)
            }
        }
        return nil
    }
}
