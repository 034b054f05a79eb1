import XCTest
@testable import KithCrypto

final class SigningTests: XCTestCase {
    override class func setUp() {
        Sodium.ensureInitialized()
    }

    func testSignVerifyRoundTrip() {
        let key = SigningKey.generate()
        let message = Array("hello kith".utf8)
        let signature = key.sign(message)
        XCTAssertEqual(key.publicKey.count, 32)
        XCTAssertEqual(key.secretKey.count, 64)
        XCTAssertEqual(signature.count, 64)
        XCTAssertTrue(Ed25519.verify(signature: signature, message: message, publicKey: key.publicKey))
        XCTAssertTrue(Ed25519.verify(signature: key.sign([]), message: [], publicKey: key.publicKey))
    }

    func testAFlippedBitInMessageSignatureOrKeyFails() {
        let key = SigningKey.generate()
        let message = Array("the ground truth".utf8)
        let signature = key.sign(message)
        for index in [0, message.count / 2, message.count - 1] {
            var tampered = message
            tampered[index] ^= 0x01
            XCTAssertFalse(Ed25519.verify(signature: signature, message: tampered, publicKey: key.publicKey))
        }
        for index in [0, 31, 32, 63] {
            var tampered = signature
            tampered[index] ^= 0x80
            XCTAssertFalse(Ed25519.verify(signature: tampered, message: message, publicKey: key.publicKey))
        }
        for index in [0, 17, 31] {
            var tampered = key.publicKey
            tampered[index] ^= 0x04
            XCTAssertFalse(Ed25519.verify(signature: signature, message: message, publicKey: tampered))
        }
        XCTAssertFalse(Ed25519.verify(signature: signature, message: message, publicKey: SigningKey.generate().publicKey))
    }

    func testWrongSizesAreFalseNotATrap() {
        let key = SigningKey.generate()
        let signature = key.sign([1, 2, 3])
        XCTAssertFalse(Ed25519.verify(signature: [], message: [1, 2, 3], publicKey: key.publicKey))
        XCTAssertFalse(Ed25519.verify(signature: Array(signature.dropLast()), message: [1, 2, 3], publicKey: key.publicKey))
        XCTAssertFalse(Ed25519.verify(signature: signature + [0], message: [1, 2, 3], publicKey: key.publicKey))
        XCTAssertFalse(Ed25519.verify(signature: signature, message: [1, 2, 3], publicKey: []))
        XCTAssertFalse(Ed25519.verify(signature: signature, message: [1, 2, 3], publicKey: key.publicKey + [0]))
    }

    func testSecretKeyRoundTripsAndCorruptKeysAreRejected() {
        let key = SigningKey.generate()
        guard let again = SigningKey(secretKey: key.secretKey) else { return XCTFail("round trip failed") }
        XCTAssertEqual(again.publicKey, key.publicKey)
        let message = Array("same key".utf8)
        XCTAssertTrue(Ed25519.verify(signature: again.sign(message), message: message, publicKey: key.publicKey))

        XCTAssertNil(SigningKey(secretKey: []))
        XCTAssertNil(SigningKey(secretKey: Array(key.secretKey.prefix(32))))
        var corrupt = key.secretKey
        corrupt[40] ^= 1  // public half no longer matches the seed
        XCTAssertNil(SigningKey(secretKey: corrupt))
    }

    func testDescriptionsDoNotLeakSecrets() {
        let key = SigningKey.generate()
        XCTAssertFalse("\(key)".contains(Hex.encode(key.secretKey.prefix(32))))
        XCTAssertTrue("\(key)".contains(Hex.encode(key.publicKey)))
        let cluster = ClusterKey.generate(id: 7)
        XCTAssertEqual("\(cluster)", "ClusterKey(id: 7)")
    }
}
