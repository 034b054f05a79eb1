import CLibUV
import Glibc
import XCTest
@testable import KithUV

final class ChildProcessTests: XCTestCase {
    private let path = "/usr/local/bin:/usr/bin:/bin"

    func testExitStatusIsReportedAndStdoutAndStderrAreAppendedToTheirFiles() throws {
        let directory = try TemporaryDirectory()
        let stdoutPath = directory.file("out.log"), stderrPath = directory.file("err.log")
        writeTextFile(stdoutPath, "earlier run\n")
        var exits: [(Int64, Int32)] = []
        var child: ChildProcess?
        try runLoop { loop in
            let options = SpawnOptions(executable: "/bin/sh", arguments: ["-c", "echo hi; echo err >&2; exit 3"],
                                       stdoutPath: stdoutPath, stderrPath: stderrPath)
            child = try ChildProcess.spawn(loop: loop, options: options) { status, signal in
                exits.append((status, signal))
                XCTAssertTrue(child?.hasExited ?? false)
                loop.stop()
            }
            XCTAssertGreaterThan(child?.pid ?? 0, 0)
            XCTAssertFalse(child?.hasExited ?? true)
        }
        XCTAssertEqual(exits.map(\.0), [3])
        XCTAssertEqual(exits.map(\.1), [0])
        XCTAssertEqual(readTextFile(stdoutPath), "earlier run\nhi\n")
        XCTAssertEqual(readTextFile(stderrPath), "err\n")
        XCTAssertEqual(permissions(of: stderrPath), 0o644 & ~currentUmask())
    }

    func testStdoutAndStderrMayShareOneFileAndDefaultToDevNull() throws {
        let directory = try TemporaryDirectory()
        let logPath = directory.file("both.log")
        var exits = 0
        try runLoop { loop in
            let script = "echo one; echo two >&2; echo three"
            _ = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
                executable: "/bin/sh", arguments: ["-c", script], stdoutPath: logPath, stderrPath: logPath
            )) { _, _ in
                exits += 1
                if exits == 2 { loop.stop() }
            }
            // No paths at all: the output goes to /dev/null and the exit is still reported.
            _ = try ChildProcess.spawn(loop: loop, options: SpawnOptions(executable: "/bin/sh", arguments: ["-c", script])) { status, _ in
                XCTAssertEqual(status, 0)
                exits += 1
                if exits == 2 { loop.stop() }
            }
        }
        XCTAssertEqual(readTextFile(logPath), "one\ntwo\nthree\n")
    }

    func testKillingAChildReportsItsTerminatingSignalPromptly() throws {
        var exit: (status: Int64, signal: Int32)?
        var elapsed: UInt64 = 0
        try runLoop(deadlineMilliseconds: 3000) { loop in
            let started = loop.hrtimeNanoseconds
            let child = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
                executable: "sleep", arguments: ["30"], environment: ["PATH": path]
            )) { status, signal in
                exit = (status, signal)
                elapsed = (loop.hrtimeNanoseconds - started) / 1_000_000
                loop.stop()
            }
            // Let it get as far as the sleep, so the signal is not simply racing the exec.
            Timer(loop: loop).start(afterMilliseconds: 20) {
                XCTAssertNil(child.signal(SIGKILL))
            }
        }
        XCTAssertEqual(exit?.status, 0)
        XCTAssertEqual(exit?.signal, SIGKILL)
        XCTAssertLessThan(elapsed, 1000)
    }

    func testSignalAfterExitIsRefusedWithESRCH() throws {
        var refusal: UVError?
        try runLoop { loop in
            var child: ChildProcess?
            child = try ChildProcess.spawn(loop: loop, options: SpawnOptions(executable: "/bin/true")) { _, _ in
                refusal = child?.signal(SIGTERM)
                loop.stop()
            }
        }
        XCTAssertEqual(refusal?.name, "ESRCH")
    }

    func testSignalGroupKillsTheChildAndItsGrandchildren() throws {
        let directory = try TemporaryDirectory()
        let pidFile = directory.file("grandchild.pid")
        var exit: (status: Int64, signal: Int32)?
        var childPID: Int32 = 0
        var grandchildPID: Int32?
        var grandchildGone = false
        try runLoop { loop in
            let child = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
                executable: "/bin/sh", arguments: ["-c", "sleep 30 & echo $!; sleep 30"],
                environment: ["PATH": path], stdoutPath: pidFile
            )) { status, signal in
                exit = (status, signal)
                // The grandchild dies with the group, but its last reaper is not us: poll, bounded by the deadline.
                let poll = Timer(loop: loop)
                poll.start(afterMilliseconds: 0, repeatMilliseconds: 10) {
                    guard let grandchild = grandchildPID, isGone(grandchild) else { return }
                    grandchildGone = true
                    poll.close()
                    loop.stop()
                }
            }
            childPID = child.pid
            let waitForGrandchild = Timer(loop: loop)
            waitForGrandchild.start(afterMilliseconds: 5, repeatMilliseconds: 5) {
                guard let text = readTextFile(pidFile), text.hasSuffix("\n"),
                      let pid = Int32(text.dropLast()) else { return }
                waitForGrandchild.close()
                grandchildPID = pid
                // A session and group of its own, which the grandchild joined.
                XCTAssertEqual(getsid(child.pid), child.pid)
                XCTAssertEqual(getpgid(child.pid), child.pid)
                XCTAssertEqual(getpgid(pid), child.pid)
                XCTAssertFalse(isGone(pid))
                XCTAssertNil(child.signalGroup(SIGKILL))
            }
        }
        XCTAssertGreaterThan(childPID, 0)
        XCTAssertNotNil(grandchildPID)
        XCTAssertEqual(exit?.signal, SIGKILL)
        XCTAssertTrue(grandchildGone)
    }

    func testWithoutANewProcessGroupTheChildStaysInOursAndSignalGroupFindsNoGroup() throws {
        var groupError: UVError?
        var sameGroup = false
        var exited = false
        try runLoop { loop in
            let child = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
                executable: "sleep", arguments: ["30"], environment: ["PATH": path], newProcessGroup: false
            )) { _, signal in
                exited = signal == SIGKILL
                loop.stop()
            }
            sameGroup = getpgid(child.pid) == getpgid(0)
            groupError = child.signalGroup(SIGKILL)
            XCTAssertNil(child.signal(SIGKILL))
        }
        XCTAssertTrue(sameGroup)
        XCTAssertEqual(groupError?.name, "ESRCH")
        XCTAssertTrue(exited)
    }

    func testAMissingExecutableThrowsENOENTAndLeaksNothing() throws {
        let directory = try TemporaryDirectory()
        func spawnMissing(_ executable: String) throws -> UVError? {
            var thrown: UVError?
            weak var freedLoop: EventLoop?
            try runLoop { loop in
                freedLoop = loop
                do throws(UVError) {
                    _ = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
                        executable: executable, environment: ["PATH": path], stdoutPath: directory.file("out.log")
                    )) { _, _ in XCTFail("a process that never started cannot exit") }
                } catch {
                    thrown = error
                }
                Timer(loop: loop).start(afterMilliseconds: 10) { loop.stop() }
            }
            XCTAssertNil(freedLoop, "every handle was closed and the loop freed")
            return thrown
        }
        // The first spawn also sets up libuv's process-wide signal pipe, so count descriptors after it.
        XCTAssertEqual(try spawnMissing("/nonexistent/kith-agent")?.name, "ENOENT")
        let descriptors = openDescriptorCount()
        XCTAssertEqual(try spawnMissing("kith-no-such-agent")?.name, "ENOENT")
        XCTAssertEqual(openDescriptorCount(), descriptors)
    }

    func testInvalidOptionsAreRefusedBeforeAnythingStarts() throws {
        var errors: [String] = []
        try runLoop { loop in
            let invalid = [
                SpawnOptions(executable: ""),
                SpawnOptions(executable: "/bin/true", arguments: ["a\u{0}b"]),
                SpawnOptions(executable: "/bin/true", environment: ["A=B": "c"]),
                SpawnOptions(executable: "/bin/true", stdoutPath: "/nonexistent/dir/out.log"),
                SpawnOptions(executable: "/bin/true", workingDirectory: "/nonexistent/dir"),
            ]
            for options in invalid {
                do throws(UVError) {
                    _ = try ChildProcess.spawn(loop: loop, options: options) { _, _ in XCTFail("started") }
                } catch {
                    errors.append(error.name)
                }
            }
            Timer(loop: loop).start(afterMilliseconds: 10) { loop.stop() }
        }
        XCTAssertEqual(errors, ["EINVAL", "EINVAL", "EINVAL", "ENOENT", "ENOENT"])
    }

    func testTheEnvironmentIsExactlyTheOneGivenSortedAndItsPATHFindsTheExecutable() throws {
        let directory = try TemporaryDirectory()
        let envOutput = directory.file("env.out"), fooOutput = directory.file("foo.out")
        var exits = 0
        try runLoop { loop in
            let environment = ["PATH": path, "FOO": "bar baz", "KITH_NODE": "n1", "EMPTY": ""]
            // `env` is found through the child's PATH and prints exactly the environment it received.
            _ = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
                executable: "env", environment: environment, stdoutPath: envOutput
            )) { status, _ in
                XCTAssertEqual(status, 0)
                exits += 1
                if exits == 2 { loop.stop() }
            }
            _ = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
                executable: "/bin/sh", arguments: ["-c", "printf '%s' \"$FOO\""], environment: environment,
                stdoutPath: fooOutput
            )) { status, _ in
                XCTAssertEqual(status, 0)
                exits += 1
                if exits == 2 { loop.stop() }
            }
        }
        XCTAssertEqual(readTextFile(envOutput), "EMPTY=\nFOO=bar baz\nKITH_NODE=n1\nPATH=\(path)\n")
        XCTAssertEqual(readTextFile(fooOutput), "bar baz")
    }

    func testCurrentEnvironmentReadsOurs() {
        let environment = SpawnOptions.currentEnvironment()
        XCTAssertEqual(environment["PATH"], getenv("PATH").map { String(cString: $0) })
    }

    func testTheWorkingDirectoryIsHonoured() throws {
        let directory = try TemporaryDirectory()
        let workDirectory = directory.file("work")
        XCTAssertEqual(mkdir(workDirectory, 0o755), 0)
        let output = directory.file("pwd.out")
        try runLoop { loop in
            _ = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
                executable: "/bin/sh", arguments: ["-c", "pwd -P"], workingDirectory: workDirectory, stdoutPath: output
            )) { _, _ in loop.stop() }
        }
        let resolved = try XCTUnwrap(realpath(workDirectory, nil))
        defer { free(resolved) }
        XCTAssertEqual(readTextFile(output), String(cString: resolved) + "\n")
    }

    func testCloseBeforeExitStopsWatchingWithoutCallingOnExit() throws {
        var exitCalls = 0
        var pid: Int32 = 0
        try runLoop { loop in
            let child = try ChildProcess.spawn(loop: loop, options: SpawnOptions(
                executable: "sleep", arguments: ["30"], environment: ["PATH": path]
            )) { _, _ in exitCalls += 1 }
            pid = child.pid
            child.close()
            child.close()
            // Still signallable: libuv no longer reaps it, so its pid cannot be reused meanwhile.
            XCTAssertNil(child.signal(SIGKILL))
            Timer(loop: loop).start(afterMilliseconds: 50) { loop.stop() }
        }
        XCTAssertEqual(exitCalls, 0)
        // Reap it ourselves, as libuv stopped watching.
        var status: Int32 = 0
        XCTAssertEqual(waitpid(pid, &status, 0), pid)
    }
}

/// Whether `pid` no longer runs: gone entirely, or a zombie waiting for a reaper that may not be us.
private func isGone(_ pid: Int32) -> Bool {
    if kill(pid, 0) != 0 { return errno == ESRCH }
    guard let stat = readTextFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return true }
    return stat[close...].dropFirst(2).first == "Z"
}

private func currentUmask() -> UInt32 {
    let mask = umask(0o022)
    umask(mask)
    return UInt32(mask)
}
