import Foundation
import Glibc
import XCTest
@testable import KithUV

/// A child's stdout and stderr captured through `OutputPipe`s: each stream apart, real pipes (so
/// /dev/stdout opens), a flood read one bounded buffer at a time, and a grandchild that keeps the
/// pipe open does not keep it open for us once we close it.
final class OutputPipeTests: XCTestCase {
    func testStdoutAndStderrArriveOnTheirOwnPipesAndEndAfterTheChild() throws {
        var out: [UInt8] = [], err: [UInt8] = []
        var ends = 0
        var exited = false
        try runLoop { loop in
            let script = "echo one; echo two >&2; echo three > /dev/stdout; exit 4"
            let child = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
                executable: "/bin/sh", arguments: ["-c", script], capturesOutput: true
            )) { status, _ in
                XCTAssertEqual(status, 4)
                exited = true
            }
            func ended() {
                ends += 1
                if ends == 2 { loop.stop() }
            }
            child.stdout?.startReading(onBytes: { out += $0 }, onEnd: ended)
            child.stderr?.startReading(onBytes: { err += $0 }, onEnd: ended)
        }
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "one\nthree\n", "/dev/stdout opens: a pipe, not a socket")
        XCTAssertEqual(String(decoding: err, as: UTF8.self), "two\n")
        XCTAssertTrue(exited || ends == 2)
    }

    func testAFloodIsReadOneBoundedBufferAtATimeAndNothingIsLost() throws {
        var total = 0
        var largest = 0
        var calls = 0
        try runLoop(deadlineMilliseconds: 20_000) { loop in
            let child = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
                executable: "/bin/sh", arguments: ["-c", "yes | head -c 3000000"], environment: ["PATH": "/usr/bin:/bin"],
                capturesOutput: true
            )) { _, _ in }
            child.stdout?.startReading(onBytes: { bytes in
                total += bytes.count
                largest = max(largest, bytes.count)
                calls += 1
            }, onEnd: { loop.stop() })
        }
        XCTAssertEqual(total, 3_000_000)
        XCTAssertLessThanOrEqual(largest, OutputPipe.readBufferBytes, "never more than one buffer per callback")
        XCTAssertGreaterThanOrEqual(calls, 3_000_000 / OutputPipe.readBufferBytes)
    }

    func testClosingOurEndLetsGoOfAPipeAGrandchildStillHolds() throws {
        let directory = try TemporaryDirectory()
        let pidFile = directory.file("grandchild.pid")
        var grandchild: Int32 = 0
        defer { if grandchild > 0 { kill(grandchild, SIGKILL) } }
        var sawEnd = false
        var heldWhileOpen = false
        var heldAfterClose = true
        func ours() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap {
                try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")
            }
        }
        try runLoop { loop in
            // The grandchild sleeps with the pipe as its stdout after the child has gone.
            let script = "sleep 30 & echo $! > \(pidFile); echo bye"
            var child: ChildProcess?
            child = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
                executable: "/bin/sh", arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"], capturesOutput: true
            )) { _, _ in
                grandchild = Int32((readTextFile(pidFile) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                let held = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(grandchild)/fd/1")) ?? "?"
                heldWhileOpen = ours().contains(held)
                child?.stdout?.close()
                heldAfterClose = ours().contains(held)
                loop.stop()
            }
            child?.stdout?.startReading(onBytes: { _ in }, onEnd: { sawEnd = true })
            child?.stderr?.startReading(onBytes: { _ in }, onEnd: {})
        }
        XCTAssertGreaterThan(grandchild, 0)
        XCTAssertFalse(sawEnd, "the grandchild holds the write end: no end of file")
        XCTAssertTrue(heldWhileOpen, "we read the pipe the grandchild writes to")
        XCTAssertFalse(heldAfterClose, "close() lets go of it at once")
    }
}
