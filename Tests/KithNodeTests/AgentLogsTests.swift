import Foundation
import KithControl
@testable import KithNode
import KithUV
import XCTest

/// Agent logs as `kithctl logs` reads them: bounded windows of whole lines (tails, continuations, files
/// that were rotated, lines longer than the window, names that would leave the directory), the line
/// format and the start lines that split a log into generations, and the writer's line cutting and rotation.
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

    func testAnOffsetIntoAnotherFileThanTheLastOneReadsTheRotatedLogFromItsStart() throws {
        let path = write("aaaa\nbbbb\n")
        let first = try XCTUnwrap(AgentLogs.read(path: path, offset: 0))
        XCTAssertEqual(AgentLogs.read(path: path, offset: 5, fileID: first.fileID)?.lines, ["bbbb"], "the same file goes on")
        XCTAssertEqual(rename(path, path + ".1"), 0)
        _ = write("new line and longer\n")
        let next = try XCTUnwrap(AgentLogs.read(path: path, offset: first.end, fileID: first.fileID))
        XCTAssertNotEqual(next.fileID, first.fileID)
        XCTAssertEqual(next.start, 0, "the offset was into the old file, now a.log.1")
        XCTAssertEqual(next.lines, ["new line and longer"])
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

    func testTimestampsRoundTripAndOtherShapesStayRawLines() {
        for ms: Int64 in [0, 951_782_400_123, 1_796_541_011_123, 4_102_444_799_999] {
            let line = AgentLogLine(tsMs: ms, stream: "err", text: "x y")
            XCTAssertEqual(AgentLogLine.parse(line.formatted), line, line.formatted)
        }
        XCTAssertEqual(AgentLogLine(tsMs: 1_796_541_011_123, stream: "out", text: "hi").formatted, "2026-12-06T07:10:11.123Z out hi")
        for raw in ["hello", "", "2026-12-06T07:10:11.123Z", "2026-12-06T07:10:11.123Z bogus x", "2026-13-06T07:10:11.123Z out x",
                    "2026-12-06 07:10:11.123Z out x", "--- kith started ts_ms=1 node=n1 agent=a generation=1 ---"] {
            XCTAssertEqual(AgentLogLine.parse(raw), AgentLogLine(tsMs: nil, stream: nil, text: raw), raw)
        }
    }

    func testStartLinesSplitLinesIntoGenerationsAndAgentLinesCannotForgeOne() {
        func started(_ generation: UInt64, _ ms: Int64, pid: Int32) -> String {
            AgentLogLine(tsMs: ms, stream: "kithd", text: AgentLogMarker.text(agent: "a", generation: generation, node: "n1", pid: pid)).formatted
        }
        let x = AgentLogLine(tsMs: 150, stream: "out", text: "x")
        // An agent printing a start line's text gets it written as its own `out` line.
        let fake = AgentLogLine(tsMs: 160, stream: "out", text: AgentLogMarker.text(agent: "a", generation: 9, node: "n1", pid: 1))
        let segments = AgentLogSegment.split(["old", started(1, 100, pid: 41), x.formatted, fake.formatted, started(2, 200, pid: 42)], node: "n1")
        XCTAssertEqual(segments, [
            AgentLogSegment(node: "n1", lines: [AgentLogLine(tsMs: nil, stream: nil, text: "old")]),
            AgentLogSegment(node: "n1", generation: 1, startedMs: 100, pid: 41, lines: [x, fake]),
            AgentLogSegment(node: "n1", generation: 2, startedMs: 200, pid: 42),
        ])
        let y = AgentLogLine(tsMs: 250, stream: "err", text: "y")
        let more = AgentLogSegment.split([y.formatted], node: "n1", continuing: segments.last)
        XCTAssertEqual(more, [AgentLogSegment(node: "n1", generation: 2, startedMs: 200, pid: 42, lines: [y])])
        XCTAssertEqual(AgentLogSegment.split([], node: "n1", continuing: segments.last), [], "nothing new, nothing to print")
        XCTAssertEqual(segments[1].lines(since: 155, endedMs: 200), [fake], "--since filters line by line")
        XCTAssertEqual(segments[0].lines(since: 155, endedMs: 100), [], "an untimed line goes with its segment's end")
    }

    // MARK: - The writer

    private func cut(_ chunks: [String], lineBytesMax: Int = 8, flush: Bool = false) -> [String] {
        let cutter = LineCutter(lineBytesMax: lineBytesMax)
        var lines: [String] = []
        let emit = { (line: UnsafeRawBufferPointer, cut: Bool) in lines.append(String(decoding: line, as: UTF8.self) + (cut ? "|cut" : "")) }
        for chunk in chunks { Array(chunk.utf8).withUnsafeBytes { cutter.feed($0, emit: emit) } }
        if flush { cutter.flush(emit: emit) }
        XCTAssertLessThanOrEqual(cutter.pendingBytes, lineBytesMax)
        return lines
    }

    func testLinesAreCutAtNewlinesAcrossChunks() {
        XCTAssertEqual(cut(["ab\ncd", "e\n\n", "f"]), ["ab", "cde", ""], "f waits for its newline")
        XCTAssertEqual(cut(["ab\ncd", "e\n\n", "f"], flush: true), ["ab", "cde", "", "f"], "or a flush")
        XCTAssertEqual(cut(["12345678\n"]), ["12345678"], "exactly the bound is whole")
        XCTAssertEqual(cut(["1234", "5678", "\n"]), ["12345678"], "also when it arrives in pieces")
    }

    func testALongLineIsCutMarkedAndItsRestDroppedUpToItsNewline() {
        XCTAssertEqual(cut(["123456789abc\nnext\n"]), ["12345678|cut", "next"])
        XCTAssertEqual(cut(["1234", "56789", "abc", "def\nok\n"]), ["12345678|cut", "ok"], "in pieces too")
        XCTAssertEqual(cut([String(repeating: "y", count: 1 << 20)], flush: true), ["yyyyyyyy|cut"],
                       "a megabyte without a newline costs one bound of memory and one line")
    }

    func testTheOnlyWriterRotatesByRenameBeforeACapWouldBePassed() throws {
        let logs = AgentLogFiles(directory: directory, bytesMax: 100)
        var rotated: [Int] = []
        logs.onRotated = { _, bytes in rotated.append(bytes) }
        logs.retain("a")
        let line = Array((String(repeating: "x", count: 39) + "\n").utf8)
        for _ in 0..<3 { line.withUnsafeBytes { logs.append("a", $0) } }
        logs.release("a")
        XCTAssertEqual(rotated, [80], "the third line would have passed 100 bytes")
        let previous = try String(contentsOfFile: directory + "/a.log.1", encoding: .utf8)
        XCTAssertEqual(previous, String(repeating: String(decoding: line, as: UTF8.self), count: 2))
        let current = AgentLogs.read(path: directory + "/a.log", offset: 0)?.lines ?? []
        XCTAssertEqual(current.count, 2, "\(current)")
        let note = AgentLogLine.parse(current[0])
        XCTAssertEqual(note.stream, "kithd")
        XCTAssertTrue(note.text.hasPrefix("log rotated at 80 bytes (cap 100)"), note.text)
        XCTAssertEqual(current[1], String(repeating: "x", count: 39))
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

/// `AgentOutput` on a real loop with a real child: a grandchild that keeps stdout open (no cgroup here to
/// kill it) cannot keep the generation's output open past its drain time.
final class AgentOutputTests: XCTestCase {
    func testAGrandchildHoldingThePipeIsCutOffAfterTheDrainAndTheLinesAreWritten() throws {
        let directory = NSTemporaryDirectory() + "kith-agentoutput-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logs = AgentLogFiles(directory: directory, bytesMax: 1 << 20)
        let loop = try EventLoop()
        var grandchild: Int32 = 0
        defer { if grandchild > 0 { kill(grandchild, SIGKILL) } }
        var finished = false
        var timedOut = false
        let deadline = Timer(loop: loop)
        deadline.start(afterMilliseconds: 5000) { timedOut = true; loop.stop() }
        let script = "sleep 30 & echo $! > \(directory)/pid; echo hello; echo oops >&2; printf unfinished"
        var output: AgentOutput?
        let child = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
            executable: "/bin/sh", arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"], capturesOutput: true
        )) { _, _ in
            output?.finish(drainMilliseconds: 200) {
                finished = true
                loop.stop()
            }
        }
        output = AgentOutput(loop: loop, agent: "a", generation: 1, logs: logs,
                             stdout: try XCTUnwrap(child.stdout), stderr: try XCTUnwrap(child.stderr))
        loop.run()
        loop.closeAll()
        loop.run()
        grandchild = Int32((try? String(contentsOfFile: directory + "/pid", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        XCTAssertFalse(timedOut, "the drain ended the output although the grandchild holds the pipe")
        XCTAssertTrue(finished)
        XCTAssertGreaterThan(grandchild, 0)
        XCTAssertTrue(kill(grandchild, 0) == 0, "the grandchild still ran: the drain, not end of file, closed the pipe")
        let lines = (AgentLogs.read(path: directory + "/a.log", offset: 0)?.lines ?? []).map(AgentLogLine.parse)
        XCTAssertEqual(lines.filter { $0.stream == "out" }.map(\.text), ["hello", "unfinished"], "the unfinished line is written at the end")
        XCTAssertEqual(lines.filter { $0.stream == "err" }.map(\.text), ["oops"])
        XCTAssertTrue(lines.allSatisfy { $0.tsMs != nil })
    }
}
