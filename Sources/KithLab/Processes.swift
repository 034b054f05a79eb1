import Foundation
import Glibc

/// What /proc says about a pid.
package enum ProcessState: String {
    case running, stopped, dead
}

/// Spawning daemons and reading their state from /proc (Linux only).
package enum Processes {
    /// glibc's POSIX_SPAWN_SETSID, which Swift's Glibc module does not export.
    private static let spawnSetSID: Int32 = 0x80

    /// Starts `executable` in a new session (so it outlives kithctl and misses
    /// kithctl's Ctrl-C), stdin from /dev/null, stdout and stderr to `logPath`.
    package static func spawn(_ executable: String, arguments: [String], logPath: String, appending: Bool) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | (appending ? O_APPEND : O_TRUNC), 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setflags(&attributes, Int16(spawnSetSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard status == 0 else {
            throw Failure("cannot start \(executable): \(String(cString: strerror(status)))")
        }
        return pid
    }

    /// Running, stopped (SIGSTOP) or dead (gone, a zombie, or now another program).
    ///
    /// `dataDir` guards against pid reuse: a daemon we started has it on its command line.
    package static func state(of pid: Int32, dataDir: String) -> ProcessState {
        guard pid > 0, commandLine(of: pid).contains(dataDir), let fields = statFields(of: pid) else { return .dead }
        switch fields[0] {
        case "T", "t": return .stopped
        case "Z", "X", "x": return .dead
        default: return .running
        }
    }

    /// Sends `signal` unless the pid is no longer ours; returns whether it was sent.
    @discardableResult
    package static func send(_ signal: Int32, to pid: Int32, dataDir: String) -> Bool {
        guard state(of: pid, dataDir: dataDir) != .dead else { return false }
        return kill(pid, signal) == 0
    }

    /// Collects an exited child's status without blocking: nil while it still runs.
    package static func reap(_ pid: Int32) -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return status
    }

    /// Human words for a wait status: "exited with status 2", "was killed by signal 9".
    package static func describe(waitStatus status: Int32) -> String {
        let signal = status & 0x7f
        return signal == 0 ? "exited with status \((status >> 8) & 0xff)" : "was killed by signal \(signal)"
    }

    /// User plus system CPU time in seconds.
    package static func cpuSeconds(of pid: Int32) -> Double? {
        guard let fields = statFields(of: pid), fields.count > 12,
              let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident set size from /proc/PID/status (VmRSS, reported in kB).
    package static func residentBytes(of pid: Int32) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return nil }
        return kilobytes * 1024
    }

    /// Agent processes whose output goes to a log under `directory`
    /// (`DIR/NODE/agents/NAME.log`, by `agentLog(of:)`): the agents of a lab's daemons, found
    /// without trusting any recorded pid. Includes ones a killed daemon left behind.
    package static func agents(under directory: String) -> [Int32] {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), pid != getpid(),
                  let output = agentLog(of: pid), output.hasPrefix(prefix), output.contains("/agents/") else { return nil }
            return pid
        }
    }

    /// The agent log (`DATA/agents/NAME.log`) a process's output goes to, from the `KITH_LOG` its daemon
    /// started it with (and that whatever it starts inherits); nil for any other process.
    package static func agentLog(of pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        let key = Array("KITH_LOG=".utf8)
        for entry in data.split(separator: 0) where entry.starts(with: key) {
            return String(decoding: entry.dropFirst(key.count), as: UTF8.self)
        }
        return nil
    }

    /// SIGKILLs every agent process of a lab (see `agents(under:)`), with its process group.
    package static func killAgents(under directory: String) {
        for pid in agents(under: directory) {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
    }

    package static func ownExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    private static func commandLine(of pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// /proc/PID/stat from the state field on (field 3), after the parenthesised
    /// command name, which may itself hold spaces and parentheses.
    private static func statFields(of pid: Int32) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }
}
