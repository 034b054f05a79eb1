import XCTest
@testable import KithCrypto

final class MACDigestHexTests: XCTestCase {
    func testClusterKeyMACVerifiesAndRejectsTampering() {
        let key = ClusterKey.generate(id: 3)
        XCTAssertEqual(key.id, 3)
        XCTAssertEqual(key.bytes.count, 32)
        let frame: [UInt8] = Array("ping from n1".utf8)
        let mac = key.mac(frame)
        XCTAssertEqual(mac.count, 32)
        XCTAssertTrue(key.verify(mac: mac, data: frame))
        XCTAssertTrue(key.verify(mac: mac[...], data: frame[...]), "slices work too")
        XCTAssertEqual(key.mac(frame[2...]), key.mac(Array(frame[2...])))

        var badFrame = frame
        badFrame[0] ^= 1
        XCTAssertFalse(key.verify(mac: mac, data: badFrame))
        var badMAC = mac
        badMAC[31] ^= 1
        XCTAssertFalse(key.verify(mac: badMAC, data: frame))
        XCTAssertFalse(ClusterKey.generate(id: 3).verify(mac: mac, data: frame), "another key")
        XCTAssertFalse(key.verify(mac: mac.prefix(16), data: frame), "short MAC")
        XCTAssertFalse(key.verify(mac: [], data: frame))
        XCTAssertTrue(key.verify(mac: key.mac([]), data: []), "empty data")
    }

    func testClusterKeyFromBytes() {
        let key = ClusterKey.generate(id: 1)
        XCTAssertEqual(ClusterKey(id: 1, bytes: key.bytes), key)
        XCTAssertNil(ClusterKey(id: 1, bytes: Array(key.bytes.dropLast())))
        XCTAssertNotEqual(ClusterKey(id: 2, bytes: key.bytes), key)
    }

    func testSHA256KnownVectors() {
        XCTAssertEqual(Hex.encode(Digest.sha256(Array("abc".utf8))),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(Hex.encode(Digest.sha256([UInt8]())),
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(Digest.sha256("abc".utf8), Digest.sha256(Array("abc".utf8)), "non-contiguous input")
    }

    func testHexRoundTripAndBadHex() {
        let bytes: [UInt8] = [0x00, 0x01, 0x7f, 0x80, 0xab, 0xff]
        XCTAssertEqual(Hex.encode(bytes), "00017f80abff")
        XCTAssertEqual(Hex.decode("00017f80abff"), bytes)
        XCTAssertEqual(Hex.decode("00017F80ABFF"), bytes, "upper case is accepted")
        XCTAssertEqual(Hex.decode(""), [])
        XCTAssertEqual(Hex.encode([UInt8]()), "")
        let random = (0..<100).map { _ in UInt8.random(in: 0...255) }
        XCTAssertEqual(Hex.decode(Hex.encode(random)), random)
        XCTAssertNil(Hex.decode("abc"), "odd length")
        XCTAssertNil(Hex.decode("zz"))
        XCTAssertNil(Hex.decode("0g"))
        XCTAssertNil(Hex.decode("ab "), "whitespace")
        XCTAssertNil(Hex.decode("éé"))
    }
}
