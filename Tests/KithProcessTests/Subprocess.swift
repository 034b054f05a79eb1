import Foundation
import Glibc

/// What a finished command printed and how it ended.
struct Finished {
    /// Exit status, or 128 + signal number if it was killed.
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Starting and waiting for processes with plain posix_spawn and waitpid, so the
/// tests own every child outright (Foundation's Process keeps its own reaper).
enum Subprocess {
    /// Makes this test process the reaper of orphaned descendants: daemons that
    /// `kithctl lab up` starts become our children once kithctl exits, so tests
    /// can read their exit status. prctl is variadic in C, which Swift cannot
    /// call; glibc's symbol is a plain syscall wrapper, so a fixed signature is safe.
    static let becomeSubreaper: Void = {
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        let prSetChildSubreaper: Int32 = 36
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "prctl") else { fatalError("no prctl in libc") }
        precondition(unsafeBitCast(symbol, to: Prctl.self)(prSetChildSubreaper, 1, 0, 0, 0) == 0, "prctl failed")
    }()

    /// Runs `executable` to completion (killing it after `timeout` seconds) and captures its output.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                    timeout: Double = 30) throws -> Finished {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kith-run-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pid = try spawn(executable, arguments, environment: environment,
                            stdout: directory + "/stdout", stderr: directory + "/stderr")
        var status = waitForExit(pid, timeout: timeout)
        if status == nil {
            kill(pid, SIGKILL)
            status = waitForExit(pid, timeout: 5)
        }
        func read(_ name: String) -> String {
            String(decoding: FileManager.default.contents(atPath: directory + "/" + name) ?? Data(), as: UTF8.self)
        }
        return Finished(status: status ?? -1, stdout: read("stdout"), stderr: read("stderr"))
    }

    static func spawn(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                      stdout: String, stderr: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard result == 0 else {
            throw HarnessError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// Polls for the child's exit; its exit status (128 + signal if killed), or nil after `timeout` seconds.
    static func waitForExit(_ pid: Int32, timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                let signal = status & 0x7f
                return signal == 0 ? (status >> 8) & 0xff : 128 + signal
            }
            if result < 0 { return nil }
            usleep(10_000)
        } while Date() < deadline
        return nil
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
