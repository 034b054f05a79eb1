import XCTest
@testable import KithCrypto

/// The per-connection handshake and counters that stop replayed cluster-key frames.
final class FrameSessionTests: XCTestCase {
    private let key = ClusterKey(id: 1, bytes: [UInt8](repeating: 0xAB, count: 32))!
    private let otherKey = ClusterKey(id: 2, bytes: [UInt8](repeating: 0xCD, count: 32))!

    private func keys(_ id: UInt8) -> ClusterKey? { [key, otherKey].first { $0.id == id } }

    /// A dialer and an acceptor that exchanged hellos.
    private func pair(dialerNonce: UInt8 = 1, acceptorNonce: UInt8 = 2) throws -> (FrameSession, FrameSession) {
        var dialer = try XCTUnwrap(FrameSession(role: .dialer, nonce: [UInt8](repeating: dialerNonce, count: 16)))
        var acceptor = try XCTUnwrap(FrameSession(role: .acceptor, nonce: [UInt8](repeating: acceptorNonce, count: 16)))
        XCTAssertNil(dialer.seal([1, 2, 3], with: key), "nothing is sealed before the peer's hello")
        XCTAssertEqual(acceptor.open(dialer.hello, key: keys), .success(.hello))
        XCTAssertEqual(dialer.open(acceptor.hello, key: keys), .success(.hello))
        return (dialer, acceptor)
    }

    func testFramesOpenOnceInOrderAndUnderAnyInstalledKey() throws {
        var (dialer, acceptor) = try pair()
        let first = try XCTUnwrap(dialer.seal([1, 2, 3], with: key))
        let second = try XCTUnwrap(dialer.seal([4], with: otherKey))
        XCTAssertEqual(acceptor.open(first, key: keys), .success(.payload([1, 2, 3])))
        XCTAssertEqual(acceptor.open(second, key: keys), .success(.payload([4])), "a rotated key works mid-connection")
        XCTAssertEqual(acceptor.receivedCounter, 2)
        // The other direction works too, with its own counter.
        let back = try XCTUnwrap(acceptor.seal([9], with: key))
        XCTAssertEqual(dialer.open(back, key: keys), .success(.payload([9])))
        // Header: marker, key id, 4-byte tag, 1-byte counter, 16-byte MAC.
        XCTAssertEqual(first.count, 2 + 4 + 1 + 16 + 3)
    }

    func testAReplayOnTheSameConnectionIsRefusedAsReplayed() throws {
        var (dialer, acceptor) = try pair()
        let first = try XCTUnwrap(dialer.seal([1], with: key))
        let second = try XCTUnwrap(dialer.seal([2], with: key))
        XCTAssertEqual(acceptor.open(second, key: keys), .success(.payload([2])))
        guard case .failure(.replayed) = acceptor.open(second, key: keys) else { return XCTFail("the same frame twice") }
        guard case .failure(.replayed) = acceptor.open(first, key: keys) else { return XCTFail("an older frame after a newer") }
    }

    func testAFrameOfAnotherConnectionOrDirectionIsRefused() throws {
        var (dialer, _) = try pair(dialerNonce: 1, acceptorNonce: 2)
        let captured = try XCTUnwrap(dialer.seal([1, 2, 3], with: key))
        // The same dialer nonce replayed in a new connection's hello: the acceptor's fresh nonce differs.
        var (_, fresh) = try pair(dialerNonce: 1, acceptorNonce: 3)
        guard case .failure(.replayed) = fresh.open(captured, key: keys) else { return XCTFail("replayed on a new connection") }
        // Reflected back to its sender.
        guard case .failure(.replayed) = dialer.open(captured, key: keys) else { return XCTFail("reflected to the dialer") }
        // A new acceptor nonce that shares the tag (first 4 bytes) still fails the MAC.
        var sameTag = try XCTUnwrap(FrameSession(role: .acceptor, nonce: [2, 2, 2, 2] + [UInt8](repeating: 9, count: 12)))
        XCTAssertEqual(sameTag.open(dialer.hello, key: keys), .success(.hello))
        guard case .failure(.unauthenticated) = sameTag.open(captured, key: keys) else { return XCTFail("accepted under another nonce") }
    }

    func testForgeriesAndMalformedFramesAreUnauthenticated() throws {
        var (dialer, acceptor) = try pair()
        let frame = try XCTUnwrap(dialer.seal([1, 2, 3], with: key))
        var tampered = frame
        tampered[tampered.count - 1] ^= 1
        var badMAC = frame
        badMAC[8] ^= 1
        var unknownKey = frame
        unknownKey[1] = 7
        var wrongKey = try pair().0
        let underWrongKey = try XCTUnwrap(wrongKey.seal([1, 2, 3], with: ClusterKey(id: 1, bytes: [UInt8](repeating: 0xEE, count: 32))!))
        for (what, bytes) in [("tampered payload", tampered), ("tampered MAC", badMAC), ("unknown key id", unknownKey),
                              ("another key with the same id", underWrongKey), ("a second hello", dialer.hello),
                              ("empty", []), ("cut short", Array(frame.prefix(10))), ("unsealed", [1, 6, 0, 0])] {
            guard case .failure(.unauthenticated) = acceptor.open(bytes, key: keys) else { return XCTFail(what) }
        }
        XCTAssertEqual(acceptor.open(frame, key: keys), .success(.payload([1, 2, 3])), "refusals consume no counter")
    }

    func testTheFirstFrameMustBeAHello() throws {
        var acceptor = try XCTUnwrap(FrameSession(role: .acceptor, nonce: [UInt8](repeating: 2, count: 16)))
        guard case .failure(.unauthenticated) = acceptor.open([1, 1, 0], key: keys) else { return XCTFail("a frame before the hello") }
        var badVersion = FrameSession(role: .dialer, nonce: [UInt8](repeating: 1, count: 16))!.hello
        badVersion[1] = 2
        guard case .failure(.unauthenticated) = acceptor.open(badVersion, key: keys) else { return XCTFail("hello version 2") }
        XCTAssertFalse(acceptor.isEstablished)
        XCTAssertNil(FrameSession(role: .dialer, nonce: [1, 2, 3]), "a short nonce")
        XCTAssertNotEqual(FrameSession.freshNonce(), FrameSession.freshNonce())
    }

    func testCountersAreCanonicalVarintsAndNeverWrap() throws {
        for value: UInt64 in [0, 1, 127, 128, 300, 1 << 35, .max] {
            var bytes: [UInt8] = []
            FrameSession.appendVarint(value, to: &bytes)
            let decoded = FrameSession.readVarint(bytes, at: 0)
            XCTAssertEqual(decoded?.0, value)
            XCTAssertEqual(decoded?.1, bytes.count)
        }
        XCTAssertNil(FrameSession.readVarint([0x80, 0x00], at: 0), "overlong")
        XCTAssertNil(FrameSession.readVarint([0x80], at: 0), "cut short")
        XCTAssertNil(FrameSession.readVarint([UInt8](repeating: 0xFF, count: 9) + [0x02], at: 0), "past 64 bits")
        XCTAssertNil(FrameSession.readVarint([UInt8](repeating: 0xFF, count: 11), at: 0), "too long")
    }
}
