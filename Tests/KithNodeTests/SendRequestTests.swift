import KithCore
import XCTest
@testable import KithNode

/// The plain `send` line is read without the parser, to the same `to`, `id` and payload text the
/// parser and serializer give; every other line is left to the parser.
final class SendRequestTests: XCTestCase {
    private func read(_ line: String) -> SendRequest? { SendRequest(line: Array(line.utf8)) }

    func test_plainSend_shouldGiveWhatTheParserGives() throws {
        for line in [#"{"id":17,"op":"send","payload":{"pad":"xx","seq":3,"t":99},"to":"sink"}"#,
                     #"{ "to" : "b1", "payload" : [1, "two", null], "op" : "send" }"#,
                     #"{"op":"send","id":"req-9","to":"b1","payload":"hi"}"#] {
            let request = try XCTUnwrap(read(line), line)
            let parsed = try JSON.parse(line)
            XCTAssertEqual(request.to, parsed["to"]?.stringValue, line)
            XCTAssertEqual(request.id, parsed["id"], line)
            XCTAssertEqual(String(decoding: request.payload, as: UTF8.self), parsed["payload"]?.serialized(), line)
        }
    }

    func test_otherLines_shouldBeLeftToTheParser() {
        for line in [#"{"op":"ping","id":1}"#, #"{"op":"send","to":"b1"}"#, #"{"op":"send","payload":1}"#,
                     #"{"op":"send","to":"b1","payload":1,"extra":2}"#, #"{"op":"send","to":"b1","to":"b2","payload":1}"#,
                     #"{"op":"send","to":"b\u0031","payload":1}"#, #"{"op":"send","to":"b1","payload":1.5}"#,
                     #"{"op":"send","to":"b1","payload":{"b":1,"a":2}}"#, #"{"op":"send","to":"b1","payload":1,"id":[1]}"#,
                     #"{"op":"send","to":"b1","payload":1,"id":1.0}"#, #"{"op":"send","to":"b1","payload":1} x"#,
                     #"{"op":"send","to":"b1","payload":1"#, #"["op","send"]"#, "", "{", #"{"op":"sendx","to":"b","payload":1}"#] {
            XCTAssertNil(read(line), line)
        }
    }

    func test_cutLines_shouldNeverTrap() {
        let line = Array(#"{"id":17,"op":"send","payload":{"pad":"xx","seq":[3,true],"t":99},"to":"sink"}"#.utf8)
        for end in 0..<line.count { XCTAssertNil(SendRequest(line: Array(line[..<end]))) }
        XCTAssertNotNil(SendRequest(line: line))
    }
}
