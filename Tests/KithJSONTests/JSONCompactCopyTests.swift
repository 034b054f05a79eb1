import KithJSON
import XCTest

/// `JSON.copyCompact` prints exactly what parse-then-serialize prints, or declines (nil) and
/// leaves the text to the parser; it never reads past its bytes, whatever they are.
final class JSONCompactCopyTests: XCTestCase {
    private func copy(_ text: String, from start: Int = 0) -> (String, Int)? {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        guard let end = bytes.withUnsafeBufferPointer({ JSON.copyCompact($0, from: start, to: &out) }) else { return nil }
        return (String(decoding: out, as: UTF8.self), end)
    }

    func test_copyCompact_plainValues_shouldPrintWhatTheSerializerPrints() throws {
        for text in [#"{"pad":"xxxx","seq":12,"t":1234567890123}"#, "[1, -2 ,true,false,null, [] ,{}]", #""a\"b\\c\n\t""#,
                     "  { \"a\" : { \"b\" : [ 0 , -7 ] } , \"c\" : \"\" }", "0", "-123456789012345678", #"{"a":1,"b":2}"#] {
            let (copied, end) = try XCTUnwrap(copy(text), text)
            XCTAssertEqual(copied, try JSON.parse(text).serialized(), text)
            XCTAssertEqual(end, text.utf8.count, text)
        }
    }

    func test_copyCompact_stopsAfterTheValue_andReportsWhere() throws {
        let (copied, end) = try XCTUnwrap(copy(#"x {"a":[1]} ,"to":"b""#, from: 1))
        XCTAssertEqual(copied, #"{"a":[1]}"#)
        XCTAssertEqual(end, 11)
    }

    func test_copyCompact_valuesTheSerializerWouldPrintOtherwise_shouldBeLeftToTheParser() {
        for text in [#"{"b":1,"a":2}"#, #"{"a":1,"a":2}"#, "1.5", "1e3", "-0", "01", "1234567890123456789", #""\u0041""#,
                     #""a\/b""#, "\"é\"", #"{"\n":1}"#, "\"tab\there\""] {
            XCTAssertNil(copy(text), text)
        }
    }

    func test_copyCompact_invalidOrCutText_shouldBeLeftToTheParser() {
        for text in ["", "{", "[1,", #"{"a"}"#, #"{"a":}"#, "[1 2]", "tru", "nul", "\"abc", "-", "[,]", "{,}", "]", "\"\\"] {
            XCTAssertNil(copy(text), text)
        }
        XCTAssertNil(copy(String(repeating: "[", count: 65) + String(repeating: "]", count: 65)), "deeper than maxDepth")
        XCTAssertNotNil(copy(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)))
        XCTAssertNil(copy("1", from: 5), "a start past the end")
        XCTAssertNil(copy("1", from: -1), "a start before the beginning")
    }

    func test_copyCompact_randomBytes_shouldNeverTrapAndAgreeWithTheParser() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(#"{}[]",:-0123456789.eE truefalsn\"#.utf8) + [0x80, 0xC3, 0x0A]
        for _ in 0..<20000 {
            let bytes = (0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            var out: [UInt8] = []
            guard let end = bytes.withUnsafeBufferPointer({ JSON.copyCompact($0, from: 0, to: &out) }) else { continue }
            // What it copies is one valid value, printed as the serializer prints it.
            let value = try? JSON.parse(bytes: bytes[..<end])
            XCTAssertEqual(value.map { Array($0.serialized().utf8) }, out, String(decoding: bytes, as: UTF8.self))
        }
    }
}
