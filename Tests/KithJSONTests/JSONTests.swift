import XCTest
import KithCore  // SeededRandom, so every fuzz case replays
@testable import KithJSON

final class JSONTests: XCTestCase {
    private func parse(_ text: String, maxDepth: Int = 64, file: StaticString = #filePath, line: UInt = #line) -> JSON? {
        do {
            return try JSON.parse(text, maxDepth: maxDepth)
        } catch {
            XCTFail("parse failed: \(error)", file: file, line: line)
            return nil
        }
    }

    private func parseError(_ text: String, maxDepth: Int = 64) -> JSONError? {
        do {
            let value = try JSON.parse(text, maxDepth: maxDepth)
            XCTFail("expected an error for \(text.debugDescription), got \(value)")
            return nil
        } catch {
            return error
        }
    }

    // MARK: Parsing values

    func test_parse_scalars_shouldProduceMatchingCases() {
        XCTAssertEqual(parse("null"), .null)
        XCTAssertEqual(parse("true"), .bool(true))
        XCTAssertEqual(parse("false"), .bool(false))
        XCTAssertEqual(parse("42"), .int(42))
        XCTAssertEqual(parse("-7"), .int(-7))
        XCTAssertEqual(parse("\"hi\""), .string("hi"))
        XCTAssertEqual(parse("[]"), .array([]))
        XCTAssertEqual(parse("{}"), .object([:]))
    }

    func test_parse_nestedDocument_shouldBuildTree() {
        let text = #"{"members":[{"name":"a","uid":1,"up":true},{"name":"b","uid":2,"up":false}],"load":0.5,"note":null}"#
        let expected: JSON = [
            "members": [["name": "a", "uid": 1, "up": true], ["name": "b", "uid": 2, "up": false]],
            "load": 0.5,
            "note": nil,
        ]
        XCTAssertEqual(parse(text), expected)
    }

    func test_parse_whitespaceAroundAndInsideValue_shouldBeAccepted() {
        XCTAssertEqual(parse(" \t\r\n [ 1 ,\n2 ] \n"), [1, 2])
        XCTAssertEqual(parse("{ \"a\" : { } }"), ["a": [:]])
    }

    func test_parse_integersThatFitInt64_shouldBeInt() {
        XCTAssertEqual(parse("0"), .int(0))
        XCTAssertEqual(parse("-0"), .int(0))
        XCTAssertEqual(parse("9223372036854775807"), .int(.max))
        XCTAssertEqual(parse("-9223372036854775808"), .int(.min))
    }

    func test_parse_integersBeyondInt64_shouldBeDouble() {
        XCTAssertEqual(parse("9223372036854775808"), .double(9.223372036854775808e18))
        XCTAssertEqual(parse("-9223372036854775809"), .double(-9.223372036854775809e18))
        XCTAssertEqual(parse("123456789012345678901234567890"), .double(1.2345678901234568e29))
    }

    func test_parse_numbersWithFractionOrExponent_shouldBeDouble() {
        XCTAssertEqual(parse("1.0"), .double(1))
        XCTAssertEqual(parse("1e2"), .double(100))
        XCTAssertEqual(parse("-0.5E-3"), .double(-0.0005))
        XCTAssertEqual(parse("2E+3"), .double(2000))
        XCTAssertEqual(parse("1e-400"), .double(0))
    }

    func test_parse_escapes_shouldDecodeEveryEscape() {
        XCTAssertEqual(parse(#""\" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u4e2d""#),
                       .string("\" \\ / \u{8} \u{C} \n \r \t A é 中"))
    }

    func test_parse_surrogatePair_shouldDecodeToOneScalar() {
        XCTAssertEqual(parse(#""\ud83d\ude80x""#), .string("🚀x"))
        XCTAssertEqual(parse(#""\uD834\uDD1E""#), .string("\u{1D11E}"))
    }

    func test_parse_rawUnicode_shouldPassThrough() {
        XCTAssertEqual(parse("\"nœud-東京-🚀\""), .string("nœud-東京-🚀"))
    }

    func test_parse_duplicateKeys_shouldKeepLastValue() {
        XCTAssertEqual(parse(#"{"a":1,"a":2}"#), ["a": 2])
    }

    func test_parse_bytes_shouldMatchStringParse() throws {
        let text = #"{"k":["v",1,2.5]}"#
        XCTAssertEqual(try JSON.parse(bytes: Array(text.utf8)), parse(text))
        XCTAssertEqual(try JSON.parse(bytes: Array(text.utf8)[...]), parse(text))
    }

    // MARK: Rejection

    func test_parse_malformedTable_shouldReturnErrorAtOffset() {
        let cases: [(text: String, offset: Int)] = [
            ("", 0), ("   ", 3), ("[", 1), ("{", 1), ("[1", 2), (#"{"a":"#, 5),
            ("[1,]", 3), (#"{"a":1,}"#, 7), ("[1 2]", 3), (#"{"a" 1}"#, 5), ("{1:2}", 1), ("{,}", 1), ("[,1]", 1),
            ("// c\n1", 0), ("/* c */ 1", 0), ("1 // c", 2),
            ("NaN", 0), ("Infinity", 0), ("-Infinity", 1), ("nan", 0), ("nul", 0), ("tru e", 0), ("True", 0),
            ("01", 1), ("-01", 2), ("1.", 2), ("1.e5", 2), ("1e", 2), ("1e+", 3), (".5", 0), ("-", 1), ("+1", 0),
            ("0x10", 1), ("1e400", 0), ("-1e400", 0),
            ("1 2", 2), ("[1]x", 3), ("'a'", 0), (#"["a""b"]"#, 4),
            ("\"abc", 0), ("\"a\u{1}b\"", 2), ("\"a\nb\"", 2), (#""\x""#, 1), (#""\u12""#, 1), (#""\u12G4""#, 1),
            (#""\"#, 1), (#""\""#, 0), (#""\ud800""#, 1), (#""\udc00""#, 1), (#""\ud800\u0041""#, 1), (#""ab\ud800x""#, 3),
            (#""\ud800\ud800""#, 1), (#""\ud800\u""#, 7),
        ]
        for (text, offset) in cases {
            guard let error = parseError(text) else { continue }
            XCTAssertEqual(error.offset, offset, "offset for \(text.debugDescription): \(error)")
            XCTAssertFalse(error.message.isEmpty)
        }
    }

    func test_parse_invalidUTF8InString_shouldReturnError() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0xFF]] {
            XCTAssertThrowsError(try JSON.parse(bytes: bytes), "\(bytes)")
        }
    }

    func test_parse_nestingAtMaxDepth_shouldSucceed() {
        let text = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        XCTAssertNotNil(parse(text))
        XCTAssertEqual(parse("[[1]]", maxDepth: 2), [[1]])
        XCTAssertEqual(parse("7", maxDepth: 0), 7)
    }

    func test_parse_nestingBeyondMaxDepth_shouldReturnError() {
        let arrays = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        XCTAssertEqual(parseError(arrays)?.offset, 64)
        let objects = String(repeating: #"{"a":"#, count: 65) + "1" + String(repeating: "}", count: 65)
        XCTAssertEqual(parseError(objects)?.offset, 5 * 64)
        XCTAssertEqual(parseError("[{}]", maxDepth: 1)?.offset, 1)
    }

    func test_parse_hugeNesting_shouldReturnErrorWithoutExhaustingStack() {
        XCTAssertNotNil(parseError(String(repeating: "[", count: 1_000_000)))
    }

    func test_parse_randomBytes_shouldNeverTrap() throws {
        let alphabet = Array(#"[]{}",:0123456789-+.eE tfrulnsa\ud8dcDE"#.utf8) + [0x00, 0x0A, 0xC3, 0xFF]
        var random = SeededRandom(seed: 0x4A53_4F4E)
        var parsed = 0
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...24, using: &random)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &random) ?? 0 }
            guard let value = try? JSON.parse(bytes: bytes, maxDepth: 8) else { continue }
            parsed += 1
            XCTAssertEqual(try JSON.parse(value.serialized()), value, "\(bytes)")
        }
        XCTAssertGreaterThan(parsed, 0, "the fuzz should reach some valid documents")
    }

    func test_parse_mutatedDocument_shouldNeverTrap() throws {
        let valid = Array(#"{"a":[1,-2.5e3,"x\u00e9\ud83d\ude80",true,null],"b":{"c":"\n"}}"#.utf8)
        var random = SeededRandom(seed: 7)
        for _ in 0..<10_000 {
            var bytes = valid
            bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            if let value = try? JSON.parse(bytes: bytes) {
                XCTAssertEqual(try JSON.parse(value.serialized()), value)
            }
        }
    }

    // MARK: Serialization

    func test_serialized_objectKeys_shouldBeSorted() {
        let value: JSON = ["zeta": 1, "alpha": 2, "mid": ["b": true, "a": false]]
        XCTAssertEqual(value.serialized(), #"{"alpha":2,"mid":{"a":false,"b":true},"zeta":1}"#)
    }

    func test_serialized_pretty_shouldIndentByTwoSpaces() {
        let value: JSON = ["name": "a", "tags": ["x", 1], "empty": [], "none": [:]]
        XCTAssertEqual(value.serialized(pretty: true), """
            {
              "empty": [],
              "name": "a",
              "none": {},
              "tags": [
                "x",
                1
              ]
            }
            """)
    }

    func test_serialized_specialCharacters_shouldBeEscaped() {
        let value = JSON.string("q\" b\\ n\n r\r t\t \u{8}\u{C}\u{0}\u{1F} é/🚀")
        XCTAssertEqual(value.serialized(), #""q\" b\\ n\n r\r t\t \b\f\u0000\u001f é/🚀""#)
    }

    func test_serialized_nonFiniteDoubles_shouldBeNull() {
        let value: JSON = [.double(.infinity), .double(-.infinity), .double(.nan)]
        XCTAssertEqual(value.serialized(), "[null,null,null]")
    }

    func test_serialized_numbers_shouldKeepIntAndDoubleApart() {
        XCTAssertEqual(JSON.int(.min).serialized(), "-9223372036854775808")
        XCTAssertEqual(JSON.double(1).serialized(), "1.0")
        XCTAssertEqual(JSON.double(0.1).serialized(), "0.1")
    }

    // MARK: Round trips

    func test_roundTrip_realisticDocument_shouldPreserveValue() throws {
        let members: [JSON] = (0..<300).map { (n: Int) -> JSON in
            let tags: JSON = ["zone": .string("zone-\(n % 3)"), "name": "nœud-東京-🚀"]
            let status: JSON = n % 7 == 0 ? "suspect" : "alive"
            return [
                "id": .string("node-\(n)"),
                "uid": .int(Int64(n) << 40),
                "status": status,
                "incarnation": .int(Int64(n % 5)),
                "rtt": .double(Double(n) / 3),
                "tags": tags,
            ]
        }
        let value: JSON = ["members": .array(members), "self": "node-0", "healthy": true, "leader": nil]
        XCTAssertEqual(try JSON.parse(value.serialized()), value)
        XCTAssertEqual(try JSON.parse(value.serialized(pretty: true)), value)
    }

    func test_roundTrip_doubles_shouldBeExact() throws {
        for d in [0.1, 1.0 / 3, 1e-5, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1e20, -0.0, 1.0, 2.5e-308] {
            let back = try JSON.parse(JSON.double(d).serialized())
            XCTAssertEqual(back.doubleValue?.bitPattern, d.bitPattern, "\(d)")
        }
    }

    func test_roundTrip_everyControlCharacter_shouldSurvive() throws {
        let s = String(String.UnicodeScalarView((0..<0x20).compactMap(Unicode.Scalar.init)))
        XCTAssertEqual(try JSON.parse(JSON.string(s).serialized()), .string(s))
    }

    // MARK: Access and literals

    func test_subscripts_shouldReturnNilOutsideTheirShape() {
        let value: JSON = ["list": [10, 20], "obj": ["k": "v"]]
        XCTAssertEqual(value["list"]?[1], 20)
        XCTAssertNil(value["list"]?[2])
        XCTAssertNil(value["list"]?[-1])
        XCTAssertEqual(value["obj"]?["k"], "v")
        XCTAssertNil(value["missing"])
        XCTAssertNil(value[0])
        XCTAssertNil(JSON.string("s")["k"])
    }

    func test_valueAccessors_shouldConvertOnlyMatchingCases() {
        XCTAssertEqual(JSON.int(3).intValue, 3)
        XCTAssertEqual(JSON.double(4).intValue, 4)
        XCTAssertNil(JSON.double(4.5).intValue)
        XCTAssertNil(JSON.double(1e19).intValue)
        XCTAssertNil(JSON.double(.nan).intValue)
        XCTAssertNil(JSON.string("3").intValue)
        XCTAssertEqual(JSON.int(3).doubleValue, 3)
        XCTAssertEqual(JSON.double(2.5).doubleValue, 2.5)
        XCTAssertNil(JSON.bool(true).doubleValue)
        XCTAssertEqual(JSON.string("s").stringValue, "s")
        XCTAssertNil(JSON.int(1).stringValue)
        XCTAssertEqual(JSON.bool(false).boolValue, false)
        XCTAssertNil(JSON.null.boolValue)
        XCTAssertEqual(JSON.array([1]).arrayValue, [1])
        XCTAssertNil(JSON.object([:]).arrayValue)
        XCTAssertEqual(JSON.object(["a": 1]).objectValue, ["a": 1])
        XCTAssertNil(JSON.array([]).objectValue)
        XCTAssertTrue(JSON.null.isNull)
        XCTAssertFalse(JSON.int(0).isNull)
    }

    func test_literals_shouldBuildMatchingCases() {
        let value: JSON = ["n": nil, "b": true, "i": 1, "d": 1.5, "s": "x", "a": [1, "y"], "o": ["k": 2]]
        XCTAssertEqual(value, .object([
            "n": .null, "b": .bool(true), "i": .int(1), "d": .double(1.5), "s": .string("x"),
            "a": .array([.int(1), .string("y")]), "o": .object(["k": .int(2)]),
        ]))
    }

    func test_errorDescription_shouldNameTheOffset() {
        XCTAssertEqual(parseError("[1,]")?.description, "unexpected character at byte 3")
    }
}
