import XCTest
@testable import KithCore

/// The error `payload` decodes to; fails the test if it decodes.
func decodeError(_ payload: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> DecodeError? {
    do {
        let message = try WireCodec.decode(payload)
        XCTFail("expected an error, decoded \(message)", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// Mutates one random byte of each message's frame `rounds` times: decoding
/// must never trap, and whatever decodes must be the canonical encoding of
/// what it decoded to. Returns how many mutations decoded.
@discardableResult
func decodeMutations(of messages: [Message], rounds: Int, seed: UInt64,
                     file: StaticString = #filePath, line: UInt = #line) -> Int {
    var random = SeededRandom(seed: seed)
    var accepted = 0
    for message in messages {
        let valid = WireCodec.encode(message)
        for _ in 0..<rounds {
            var payload = valid
            payload[Int.random(in: 0..<payload.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            if let decoded = try? WireCodec.decode(payload) {
                accepted += 1
                XCTAssertEqual(WireCodec.encode(decoded), payload, file: file, line: line)
            }
        }
    }
    return accepted
}
