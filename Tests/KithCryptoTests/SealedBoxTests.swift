import XCTest
@testable import KithCrypto

/// Cluster keys travel to nodes sealed to the node's event-log key: only that
/// node opens them, and a box that was altered or meant for another opens to nothing.
final class SealedBoxTests: XCTestCase {
    func testSealedToANodeKeyOpensWithItAndHidesTheMessage() throws {
        let node = SigningKey.generate()
        let secret = ClusterKey.generate(id: 4).bytes
        let sealed = try XCTUnwrap(SealedBox.seal(secret, to: node.publicKey))
        XCTAssertEqual(sealed.count, secret.count + SealedBox.overheadBytes)
        XCTAssertNil(sealed.firstRange(of: secret), "the key is not in the box in clear")
        XCTAssertFalse(Hex.encode(sealed).contains(Hex.encode(secret)))
        XCTAssertEqual(node.openSealed(sealed), secret)
        let again = try XCTUnwrap(SealedBox.seal(secret, to: node.publicKey))
        XCTAssertNotEqual(again, sealed, "each box uses a fresh ephemeral key")
        XCTAssertEqual(node.openSealed([]), nil)
        XCTAssertEqual(node.openSealed(try XCTUnwrap(SealedBox.seal([], to: node.publicKey))), [])
    }

    func testAnotherKeyOrAnAlteredBoxDoesNotOpen() throws {
        let node = SigningKey.generate()
        let sealed = try XCTUnwrap(SealedBox.seal(Array("cluster key".utf8), to: node.publicKey))
        XCTAssertNil(SigningKey.generate().openSealed(sealed), "a box for one node opens for no other")
        for index in [0, 31, 32, sealed.count - 1] {
            var altered = sealed
            altered[index] ^= 0x01
            XCTAssertNil(node.openSealed(altered), "byte \(index) altered")
        }
        XCTAssertNil(node.openSealed(Array(sealed.dropLast())), "cut short")
        XCTAssertNil(node.openSealed(Array(sealed.prefix(SealedBox.overheadBytes - 1))), "shorter than the overhead")
    }

    func testAPublicKeyThatIsNotAnEd25519PointIsRefused() {
        XCTAssertNil(SealedBox.seal([1, 2, 3], to: Array(repeating: 0, count: 31)), "wrong length")
        XCTAssertNil(SealedBox.seal([1, 2, 3], to: []), "empty")
    }
}
