import Glibc
import KithCore
import XCTest
@testable import KithNode

/// The daemon shell's bounds that need no socket: log fields, subscriptions, file reads, config sources.
final class ShellBoundsTests: XCTestCase {
    func testLogFieldsAreCutShortInTheLineAndTheRecord() {
        let lines = LineBox()
        let recorded = LineBox()
        let logger = Logger(level: .info, clock: { 0 }, sink: { lines.append($0) })
            .recording { _, fields, _ in recorded.append(fields["cmd"]?.stringValue ?? "") }
        let huge = String(repeating: "x", count: 1 << 20)
        logger.record(.warn, "command_refused", ["cmd": .string(huge), "nested": .array([.string(huge)])])
        let line = try? JSON.parse(lines.all.first ?? "")
        let cmd = line?["cmd"]?.stringValue ?? ""
        XCTAssertLessThanOrEqual(cmd.utf8.count, Logger.fieldBytesMax)
        XCTAssertTrue(cmd.hasSuffix("…[1048576 bytes]"), cmd.suffix(40).description)
        XCTAssertLessThanOrEqual(line?["nested"]?[0]?.stringValue?.utf8.count ?? .max, Logger.fieldBytesMax)
        XCTAssertLessThanOrEqual(recorded.all.first?.utf8.count ?? .max, Logger.fieldBytesMax)
        XCTAssertLessThan(lines.all.first?.utf8.count ?? .max, 4 * Logger.fieldBytesMax)
    }

    func testCuttingShortNeverSplitsACharacterAndLeavesShortTextAlone() {
        XCTAssertEqual("short".cutShort(toUTF8Bytes: 64), "short")
        let accented = String(repeating: "é", count: 100)  // two bytes each
        for limit in 20...40 {
            let cut = accented.cutShort(toUTF8Bytes: limit)
            XCTAssertLessThanOrEqual(cut.utf8.count, limit)
            XCTAssertTrue(cut.hasPrefix("é") && cut.hasSuffix("[200 bytes]"), cut)
        }
    }

    func testSubscriptionsAreLimitedToTheKnownEvents() {
        XCTAssertNil(AgentGateway.subscriptionProblem(["peer_lost", "member_dead", "peer_lost"]))
        XCTAssertEqual(AgentGateway.subscriptionProblem(["peer_lost", "secrets"])?.hasPrefix("unknown event 'secrets'"), true)
        XCTAssertNotNil(AgentGateway.subscriptionProblem(nil))
        XCTAssertNotNil(AgentGateway.subscriptionProblem([1]))
        XCTAssertNotNil(AgentGateway.subscriptionProblem(.array(Array(repeating: "peer_lost", count: 1000))))
        let long = String(repeating: "e", count: 100_000)
        XCTAssertLessThan(AgentGateway.subscriptionProblem([.string(long)])?.utf8.count ?? .max, 1024)
    }

    func testReadingADirectoryFailsInsteadOfReadingAsEmpty() {
        XCTAssertThrowsError(try readWholeFile("/tmp"))
        XCTAssertThrowsError(try readWholeFile("/no/such/file"))
        XCTAssertEqual(try readWholeFile("/proc/self/comm").isEmpty, false)
    }

    func testEnvironmentSetsEveryFlagKeyBetweenFileAndFlags() throws {
        let file = #"{"name": "from-file", "listen": "127.0.0.1:1", "control": "127.0.0.1:2", "capacity": 1}"#
        let environment = ["KITH_NAME": "from-env", "KITH_CAPACITY": "2", "KITH_JOIN": "10.0.0.1:7946,10.0.0.2:7946",
                           "KITH_TAGS": "zone=a,rack=r2", "KITH_CLUSTER_KEYS_FILE": "/keys", "KITH_AGENTS": "3"]
        let files = ["/config.json": file, "/keys": "# rotated\n2:\(String(repeating: "b", count: 64))\n\n"]
        let read: (String) throws -> String = { path in
            guard let text = files[path] else { throw ReadError(description: "no such file") }
            return text
        }
        let config = try NodeConfig.parse(arguments: ["--config", "/config.json", "--capacity", "3"],
                                          environment: environment, readFile: read)
        XCTAssertEqual(config.name, "from-env", "the environment beats the file")
        XCTAssertEqual(config.capacity, 3, "a flag beats the environment")
        XCTAssertEqual(config.join, ["10.0.0.1:7946", "10.0.0.2:7946"])
        XCTAssertEqual(config.tags, ["zone": "a", "rack": "r2"])
        XCTAssertEqual(config.clusterKeys, ["2:" + String(repeating: "b", count: 64)])
        XCTAssertTrue(config.agents.isEmpty, "KITH_AGENTS is the container entrypoint's, not a config key")
        XCTAssertEqual(NodeConfig.environmentVariable(for: "data_dir"), "KITH_DATA_DIR")
        XCTAssertTrue(NodeConfig.environmentKeys.contains("relaunch_quorum"))

        let (_, problems) = NodeConfig.check(
            arguments: ["--config", "/config.json"],
            environment: ["KITH_CAPACITY": "lots", "KITH_NAME": "a", "KITH_NAME_FILE": "/keys", "KITH_OPERATOR_KEYS_FILE": "/gone"],
            readFile: read)
        XCTAssertEqual(problems.count, 3, "\(problems)")
        XCTAssertTrue(problems.contains { $0.hasPrefix("KITH_CAPACITY:") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("KITH_NAME or KITH_NAME_FILE") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.hasPrefix("KITH_OPERATOR_KEYS_FILE: cannot read /gone") }, "\(problems)")
    }
}

/// Collects lines from a `@Sendable` sink (tests run the logger on one thread).
private final class LineBox: @unchecked Sendable {
    private(set) var all: [String] = []
    func append(_ line: String) { all.append(line) }
}
