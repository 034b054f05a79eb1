import Foundation
import KithControl
@testable import KithNode
import XCTest

/// Agent logs as `kithctl logs` reads them: bounded windows of whole lines (tails, continuations, files
/// that were rotated, lines longer than the window, names that would leave the directory) and the
/// start markers that split a log into generations.
final class AgentLogsTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "kith-agentlogs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func write(_ text: String) -> String {
        let path = directory + "/a.log"
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func testTailDropsThePartialFirstLineAndWithholdsAnUnfinishedLastOne() {
        let path = write("first line\nsecond\nthird\nunfinished")
        let window = AgentLogs.read(path: path, offset: nil, bytesMax: 20)
        XCTAssertEqual(window?.lines, ["third"], "the window starts mid 'second': that piece is dropped")
        XCTAssertEqual(window?.end, 24, "the next read starts after 'third\\n', where the unfinished line begins")
        XCTAssertEqual(window?.size, 34)
    }

    func testFromAnOffsetWholeLinesUpToTheBoundThenContinue() {
        let path = write("aaaa\nbbbb\ncccc\n")
        let first = AgentLogs.read(path: path, offset: 0, bytesMax: 12)
        XCTAssertEqual(first?.lines, ["aaaa", "bbbb"])
        let next = AgentLogs.read(path: path, offset: first?.end, bytesMax: 12)
        XCTAssertEqual(next?.lines, ["cccc"])
        XCTAssertEqual(AgentLogs.read(path: path, offset: next?.end, bytesMax: 12)?.lines, [], "nothing new")
    }

    func testAnOffsetPastTheEndReadsARotatedFileFromItsStart() {
        let path = write("new file\n")
        let window = AgentLogs.read(path: path, offset: 5_000, bytesMax: 100)
        XCTAssertEqual(window?.start, 0)
        XCTAssertEqual(window?.lines, ["new file"])
        XCTAssertEqual(AgentLogs.read(path: path, offset: -3, bytesMax: 100)?.start, 0, "a negative offset too")
    }

    func testALineLongerThanTheWindowIsCutNotStuck() {
        let path = write(String(repeating: "x", count: 50) + "\nend\n")
        let window = AgentLogs.read(path: path, offset: 0, bytesMax: 16)
        XCTAssertEqual(window?.lines, [String(repeating: "x", count: 16)])
        XCTAssertEqual(window?.end, 16, "the reader moves on")
    }

    func testAMissingFileIsNilAndNamesThatLeaveTheDirectoryAreRefused() {
        XCTAssertNil(AgentLogs.read(path: directory + "/none.log", offset: nil))
        for bad in ["", "../x", "a/b", ".hidden", String(repeating: "a", count: 256), "a\0b"] {
            XCTAssertFalse(AgentLogs.isSafeName(bad), bad)
        }
        XCTAssertTrue(AgentLogs.isSafeName("n1-a1"))
    }

    func testMarkStartAppendsAMarkerTheReaderParses() throws {
        let path = write("before\n")
        AgentLogs.markStart(path: path, agent: "n1-a1", generation: 7, node: "n2")
        let lines = try XCTUnwrap(AgentLogs.read(path: path, offset: 0)).lines
        XCTAssertEqual(lines.count, 2)
        let marker = try XCTUnwrap(AgentLogMarker.parse(lines[1]))
        XCTAssertEqual(marker.node, "n2")
        XCTAssertEqual(marker.generation, 7)
        XCTAssertGreaterThan(marker.tsMs, 1_700_000_000_000)
    }

    func testMarkersSplitLinesIntoGenerationsAndLookalikesDoNot() {
        let one = AgentLogMarker.line(agent: "a", generation: 1, node: "n1", tsMs: 100).dropLast()
        let two = AgentLogMarker.line(agent: "a", generation: 2, node: "n1", tsMs: 200).dropLast()
        let fake = "--- kith started ts_ms=soon node=n1 generation=9 ---"
        let segments = AgentLogSegment.split(["old", String(one), "x", fake, String(two)], node: "n1")
        XCTAssertEqual(segments, [
            AgentLogSegment(node: "n1", lines: ["old"]),
            AgentLogSegment(node: "n1", generation: 1, startedMs: 100, lines: ["x", fake]),
            AgentLogSegment(node: "n1", generation: 2, startedMs: 200),
        ])
        let more = AgentLogSegment.split(["y"], node: "n1", continuing: segments.last)
        XCTAssertEqual(more, [AgentLogSegment(node: "n1", generation: 2, startedMs: 200, lines: ["y"])])
        XCTAssertEqual(AgentLogSegment.split([], node: "n1", continuing: segments.last), [], "nothing new, nothing to print")
    }

    func testASegmentEndsAtTheNextOnItsNodeOrTheNextGenerationAnywhere() {
        let all = [
            AgentLogSegment(node: "n2", generation: 1, startedMs: 100),
            AgentLogSegment(node: "n3", generation: 2, startedMs: 300),
            AgentLogSegment(node: "n2", generation: 2, startedMs: 400),
        ]
        XCTAssertEqual(AgentLogSegment.ended(0, in: all), 300, "generation 2 started on n3")
        XCTAssertNil(AgentLogSegment.ended(1, in: all), "a duplicate of the same generation does not end it")
        XCTAssertNil(AgentLogSegment.ended(2, in: all), "the newest may still run")
    }
}
