#if canImport(Glibc)
import Glibc
#endif
import KithControl
import KithCore
import KithUV

/// Runs this node's agent processes: `uv_spawn` in their own process group
/// and, where the host allows, their own cgroup (one per process started) and
/// uid; stdout and stderr read from pipes and written, line by line with
/// the time, to `DATA/agents/NAME.log` (`AgentOutput`), exits reported at
/// once. Stopping is SIGTERM to the group, then after a grace period SIGKILL
/// to everything in the agent's cgroup, so no child outlives it, not even one
/// that left the group with `setsid()` (each such escapee is recorded as
/// `escapee_killed`).
final class Supervisor {
    private let loop: EventLoop
    private let logger: Logger
    private let logDirectory: String
    private let agentDirectory: String
    private let socketPath: String
    private let nodeName: String
    private var processes: [String: Running] = [:]
    private var dying: [Int32: ChildProcess] = [:]
    /// Agent → main pid → its cgroup, until the cgroup is empty and removed.
    private var fences: [String: [Int32: Fence]] = [:]
    /// Quarantined agents whose processes are frozen here.
    private var frozen: Set<String> = []
    /// Numbers the cgroups, so a generation restarted in place gets a new one.
    private var launches: UInt64 = 0
    private let graceMilliseconds: UInt64
    private let containment: Containment
    private var reaper: Reaper?
    private let logs: AgentLogFiles
    /// Each process's output being written to its log, by pid, until its pipes are closed.
    private var outputs: [Int32: AgentOutput] = [:]

    static let setpriv = "/usr/bin/setpriv"
    static let unshare = "/usr/bin/unshare"
    static let ipCandidates = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
    /// How long a fence may take before it gives up (a process stuck in the kernel).
    static let fenceNanosecondsMax: UInt64 = 1_000_000_000

    /// The process exited: name, generation, a readable status.
    var onExit: ((String, UInt64, String) -> Void)?
    /// A process this supervisor stopped exited and its cgroup was emptied: name, generation.
    var onStopped: ((String, UInt64) -> Void)?

    struct Running {
        var generation: UInt64
        var process: ChildProcess
        var token: String
        var checkpoint: Checkpoint?
        var relaunched: Bool
    }

    private struct Fence {
        var cgroup: AgentCgroup
        var generation: UInt64
    }

    init(loop: EventLoop, logger: Logger, dataDir: String, socketPath: String, nodeName: String,
         graceMilliseconds: UInt64 = 2000, containment settings: ContainmentSettings = ContainmentSettings(),
         logBytesMax: Int = NodeConfig().agentLogBytesMax) {
        self.loop = loop
        logs = AgentLogFiles(directory: dataDir + "/agents", bytesMax: logBytesMax)
        self.logger = logger
        self.logDirectory = dataDir + "/agents"
        self.agentDirectory = NodeConfig.agentDirectory(dataDir: dataDir)
        self.socketPath = socketPath
        self.nodeName = nodeName
        self.graceMilliseconds = graceMilliseconds
        // The data dir (keys, event log, tombstones) is the daemon's alone; agents get a directory beside it.
        chmod(dataDir, 0o700)
        _ = makeDirectory(agentDirectory)
        chmod(agentDirectory, 0o711)
        containment = Containment(nodeName: nodeName, settings: settings)
        reaper = Reaper(loop: loop) { [unowned self] pid in
            self.dying[pid] != nil || self.processes.values.contains { $0.process.pid == pid }
        }
        var fields = containment.json.objectValue ?? [:]
        fields["subreaper"] = .bool(reaper?.isSubreaper == true)
        logger.record(containment.isContained ? .info : .warn, "containment", fields)
        logs.onRotated = { [logger] name, bytes in
            logger.record(.info, "agent_log_rotated", ["agent": .string(name), "bytes": .int(Int64(bytes))])
        }
    }

    /// SIGHUP: every open agent log is opened anew at its path (after logrotate moved it away).
    func reopenLogs() {
        logs.reopenAll()
    }

    /// The agent's token and launch facts, for the gateway's hello.
    func session(for name: String) -> Running? { processes[name] }

    var runningCount: Int { processes.count }

    /// How agents are fenced here (`mode`, `reason`, ...), for `status`.
    var containmentStatus: JSON { containment.json }

    /// Starts one generation of an agent; returns its pid or why it failed.
    func spawn(_ record: AgentRecord, checkpoint: Checkpoint?) -> Result<Int32, SpawnFailure> {
        if frozen.contains(record.name) { killGroupNow(record.name) }
        if let old = processes.removeValue(forKey: record.name) { terminate(old.process, record.name) }
        let name = record.name
        let generation = record.generation
        _ = makeDirectory(logDirectory)
        let token = String(ProcessStats.randomUInt64(), radix: 16) + String(ProcessStats.randomUInt64(), radix: 16)
        var environment = inheritedEnvironment()
        for (key, value) in record.spec.env { environment[key] = value }
        environment["KITH_AGENT"] = name
        environment["KITH_SOCKET"] = socketPath
        environment["KITH_TOKEN"] = token
        environment["KITH_NODE"] = nodeName
        environment["KITH_GENERATION"] = String(generation)
        environment["KITH_POLICY"] = record.spec.policy.rawValue
        environment["KITH_PROTECTS"] = record.spec.protects.joined(separator: ",")
        // Where its output goes (a file the agent cannot open): how tools tell whose process this is.
        environment["KITH_LOG"] = logs.path(of: name)
        let launch: Launch
        do {
            launch = try prepare(record)
        } catch {
            logs.mark(name, "generation \(generation) did not start: containment: \(error.description)",
                      wallMilliseconds: ProcessStats.wallMilliseconds)
            logger.record(.warn, "agent_spawn_failed", ["agent": .string(name), "error": .string(error.description)])
            return .failure(SpawnFailure(name: "containment: \(error.description)"))
        }
        if launch.uid != nil { environment["HOME"] = launch.workingDirectory; environment["USER"] = nil }
        let options = SpawnOptions(executable: launch.argv[0], arguments: Array(launch.argv.dropFirst()),
                                   environment: environment, workingDirectory: launch.spawnDirectory,
                                   newProcessGroup: true, capturesOutput: true)
        do {
            var spawnedPID: Int32 = 0
            let process = try ChildProcess.spawn(loop: loop, options: options) { [weak self] status, signal in
                self?.exited(name, generation: generation, pid: spawnedPID, status: status, signal: signal)
            }
            spawnedPID = process.pid
            processes[name] = Running(generation: generation, process: process, token: token, checkpoint: checkpoint,
                                      relaunched: record.reason.hasPrefix("relaunched"))
            if let cgroup = launch.cgroup { fences[name, default: [:]][process.pid] = Fence(cgroup: cgroup, generation: generation) }
            // The one start line, written before any of the process's output can be read.
            logs.mark(name, AgentLogMarker.text(agent: name, generation: generation, node: nodeName, pid: process.pid),
                      wallMilliseconds: ProcessStats.wallMilliseconds)
            if let stdout = process.stdout, let stderr = process.stderr {
                outputs[process.pid] = AgentOutput(loop: loop, agent: name, generation: generation, logs: logs,
                                                   stdout: stdout, stderr: stderr)
            }
            var fields: [String: JSON] = ["agent": .string(name), "generation": .int(Int64(generation)),
                                          "pid": .int(Int64(process.pid)),
                                          // The checkpoint it starts from (0 and 0: none), for the history checker.
                                          "checkpoint_generation": .int(Int64(checkpoint?.generation ?? 0)),
                                          "checkpoint_seq": .int(Int64(checkpoint?.seq ?? 0))]
            if let uid = launch.uid { fields["uid"] = .int(Int64(uid)) }
            logger.record(.info, "agent_spawned", fields)
            return .success(process.pid)
        } catch {
            _ = launch.cgroup?.remove()
            if processes[name] == nil && fences[name] == nil { containment.releaseUID(of: name) }
            logs.mark(name, "generation \(generation) did not start: \(error.description)", wallMilliseconds: ProcessStats.wallMilliseconds)
            logger.record(.warn, "agent_spawn_failed", ["agent": .string(name), "error": .string(error.description)])
            return .failure(SpawnFailure(name: error.name))
        }
    }

    /// Stops one generation: SIGTERM to its group, SIGKILL to its cgroup after
    /// the grace period. True when `onStopped` will report the exit; false
    /// when no process of it is left to wait for.
    @discardableResult
    func stop(_ name: String, generation: UInt64) -> Bool {
        guard let running = processes[name], running.generation == generation else { return false }
        // A frozen process cannot act on SIGTERM: it goes at once, by its cgroup.
        if frozen.contains(name) {
            killGroupNow(name)
            return true
        }
        processes[name] = nil
        terminate(running.process, name)
        return true
    }


    /// SIGKILLs the agent's process as a crash would: the exit is reported
    /// and restart rules apply. False when it does not run here.
    func crash(_ name: String) -> Bool {
        guard let running = processes[name], !running.process.hasExited else { return false }
        return running.process.signal(SIGKILL) == nil
    }

    /// The kill-switch's fence: SIGKILL every process of the agent at once,
    /// whatever generation runs here, and forget it. Returns only once none
    /// is left (or after `fenceNanosecondsMax`), with how many were killed.
    @discardableResult
    func killGroupNow(_ name: String) -> Int {
        var killed = 0
        frozen.remove(name)
        let running = processes.removeValue(forKey: name)
        if let running, !running.process.hasExited { dying[running.process.pid] = running.process }
        for pid in (fences[name] ?? [:]).keys.sorted() { killed += fence(name, mainPID: pid) }
        if let running, !running.process.hasExited, running.process.signalGroup(SIGKILL) == nil, !containment.isContained {
            killed += 1  // without a cgroup only the leader is known for sure
        }
        return killed
    }

    /// Quarantine: stops (or lets run again) every process of the agent here
    /// without killing it, by its cgroups; without containment by SIGSTOP /
    /// SIGCONT to its process group, which a process that left the group
    /// escapes. Returns how, and the processes it holds, or nil when it does not run here.
    func setFrozen(_ name: String, _ freeze: Bool) -> (method: String, processes: Int)? {
        guard let running = processes[name], !running.process.hasExited else { return nil }
        if freeze { frozen.insert(name) } else { frozen.remove(name) }
        var method: String?
        var count = 0
        for fence in (fences[name] ?? [:]).values {
            method = fence.cgroup.setFrozen(freeze) ?? method
            count += fence.cgroup.members().count
        }
        if let method { return (method, count) }
        _ = running.process.signalGroup(freeze ? SIGSTOP : SIGCONT)
        return (freeze ? "SIGSTOP to the process group" : "SIGCONT to the process group", max(count, 1))
    }

    /// Stops every agent and calls `completion` once all have exited, or
    /// after `graceMilliseconds` with SIGKILL to whatever is left: the daemon
    /// must exit within 2 s of SIGTERM and leave no orphan and no cgroup behind.
    func stopAll(graceMilliseconds: UInt64 = 1000, completion: @escaping () -> Void) {
        let all = processes
        for (name, running) in all { terminate(running.process, name, withTimer: false) }
        processes = [:]
        let timer = Timer(loop: loop)
        let deadline = loop.nowMilliseconds + graceMilliseconds
        timer.start(afterMilliseconds: 10, repeatMilliseconds: 10) { [weak self] in
            guard let self, !self.dying.isEmpty, self.loop.nowMilliseconds < deadline else {
                timer.close()
                for running in all.values { _ = running.process.signalGroup(SIGKILL) }
                if let self {
                    for (name, pids) in self.fences { for pid in pids.keys { self.fence(name, mainPID: pid) } }
                    self.closeOutputs()
                    self.containment.removeNodeDirectories()
                    self.reaper?.sweep()
                    self.reaper?.close()
                    self.reaper = nil
                }
                completion()
                return
            }
        }
    }

    // MARK: Fencing

    private func terminate(_ process: ChildProcess, _ name: String, withTimer: Bool = true) {
        guard !process.hasExited else {
            fence(name, mainPID: process.pid)
            return
        }
        dying[process.pid] = process
        _ = process.signalGroup(SIGTERM)
        guard withTimer else { return }
        let timer = Timer(loop: loop)
        timer.start(afterMilliseconds: graceMilliseconds) { [weak self] in
            timer.close()
            // Even after the leader exited, a child of it that ignored SIGTERM may linger in the group or cgroup.
            self?.fence(name, mainPID: process.pid)
            _ = process.signalGroup(SIGKILL)
        }
    }

    /// Kills everything left in the cgroup of the process `mainPID` started as,
    /// records each process that had left its process group, and removes the cgroup.
    @discardableResult
    private func fence(_ name: String, mainPID: Int32) -> Int {
        guard let fence = fences[name]?[mainPID] else { return 0 }
        let generation = fence.generation
        let started = monotonicNanoseconds()
        var killed = 0
        var escapees = 0
        let empty = fence.cgroup.killAll(deadlineNs: started + Supervisor.fenceNanosecondsMax) { pid in
            killed += 1
            guard pid != mainPID, let info = ProcessInfo(pid: pid), info.processGroup != mainPID else { return }
            escapees += 1
            logger.record(.warn, "escapee_killed", [
                "agent": .string(name), "generation": .int(Int64(generation)), "pid": .int(Int64(pid)),
                "command": .string(info.command), "pgid": .int(Int64(info.processGroup)), "sid": .int(Int64(info.session)),
                "ppid": .int(Int64(info.parent)), "uid": .int(Int64(info.uid)),
            ])
        }
        let elapsedUs = Int64((monotonicNanoseconds() - started) / 1000)
        if killed > 0 {
            logger.record(.info, "agent_fenced", ["agent": .string(name), "generation": .int(Int64(generation)),
                                                  "killed": .int(Int64(killed)), "escapees": .int(Int64(escapees)),
                                                  "empty": .bool(empty), "us": .int(elapsedUs)])
        }
        reaper?.sweep()
        guard empty, fence.cgroup.remove() else {
            logger.record(.error, "cgroup_not_removed", ["agent": .string(name), "generation": .int(Int64(generation)),
                                                         "left": .int(Int64(fence.cgroup.members().count))])
            return killed
        }
        fences[name]?[mainPID] = nil
        if fences[name]?.isEmpty == true { fences[name] = nil }
        if fences[name] == nil && processes[name] == nil { containment.releaseUID(of: name) }
        return killed
    }

    private func exited(_ name: String, generation: UInt64, pid: Int32, status: Int64, signal: Int32) {
        // Whatever the agent left behind goes with it: no orphans, in its group or out of it.
        fence(name, mainPID: pid)
        let text = signal != 0 ? "signal \(signal)" : "exit status \(status)"
        endOutput(of: pid, "generation \(generation) ended (pid \(pid), \(text))")
        if dying.removeValue(forKey: pid) != nil {  // we stopped it: not a crash
            logger.record(.info, "agent_stopped", ["agent": .string(name), "generation": .int(Int64(generation)),
                                                   "pid": .int(Int64(pid))])
            onStopped?(name, generation)
            return
        }
        guard let running = processes[name], running.generation == generation else { return }
        processes[name] = nil
        kill(-pid, SIGKILL)
        logger.record(.warn, "agent_exited", ["agent": .string(name), "generation": .int(Int64(generation)),
                                     "pid": .int(Int64(pid)), "status": .string(text)])
        onExit?(name, generation, text)
    }

    // MARK: Output

    /// The process is over: its output is written out (what its pipes still hold, within
    /// `AgentOutput.drainMilliseconds`), its pipes closed, then `line` written after it.
    private func endOutput(of pid: Int32, _ line: String, drainMilliseconds: UInt64 = AgentOutput.drainMilliseconds) {
        guard let output = outputs[pid] else { return }
        output.finish(drainMilliseconds: drainMilliseconds) { [weak self, logs] in
            logs.mark(output.agent, line, wallMilliseconds: ProcessStats.wallMilliseconds)
            if self?.outputs[pid] === output { self?.outputs[pid] = nil }
        }
    }

    /// The daemon is stopping: every output still open is written out and closed now.
    private func closeOutputs() {
        for (pid, output) in outputs.sorted(by: { $0.key < $1.key }) {
            if output.isFinishing {
                output.finishNow()
            } else {
                endOutput(of: pid, "generation \(output.generation): kithd stopped (pid \(pid))", drainMilliseconds: 0)
            }
        }
        outputs = [:]
    }

    // MARK: Launching

    /// How one generation is started: its argv (through the wrappers), cgroup, uid and directory.
    private struct Launch {
        var argv: [String]
        var cgroup: AgentCgroup?
        var uid: UInt32?
        var workingDirectory: String?
        /// Where libuv starts the wrappers: nil when the agent's own 0700
        /// directory is entered only after the uid switch (kithd without root
        /// cannot search it; root can).
        var spawnDirectory: String?
    }

    /// Makes the cgroup, picks the uid and working directory, and wraps the
    /// command: `sh` sets the rlimits and joins the cgroup before anything of
    /// the agent runs (so nothing it forks is ever outside), and `setpriv`
    /// drops to the agent's uid with no capabilities and `no_new_privs`, and
    /// asks for SIGKILL if this daemon dies.
    private func prepare(_ record: AgentRecord) throws(ContainmentError) -> Launch {
        let spec = record.spec
        var argv = [spec.command] + spec.args
        var uid: UInt32?
        if containment.dropsPrivileges {
            guard access(Supervisor.setpriv, X_OK) == 0 else {
                throw ContainmentError("setpriv (util-linux) is needed to run agents under their own uids")
            }
            uid = try containment.uid(for: record.name)
        }
        var workingDirectory = spec.workingDirectory.isEmpty ? nil : spec.workingDirectory
        var enterAfterSwitch = false
        if workingDirectory == nil, let uid {
            let home = agentDirectory + "/" + record.name
            if mkdir(home, 0o700) != 0 && errno != EEXIST {
                throw ContainmentError("cannot create \(home): \(String(cString: strerror(errno)))")
            }
            // Mode first: once the directory is the agent's, only CAP_FOWNER (root) could change it.
            var info = stat()
            let ready = stat(home, &info) == 0 && info.st_uid == uid && info.st_mode & 0o777 == 0o700
            guard ready || (chmod(home, 0o700) == 0 && chown(home, uid, uid) == 0) else {
                throw ContainmentError("cannot give \(home) to uid \(uid): \(String(cString: strerror(errno)))")
            }
            workingDirectory = home
        }
        if uid != nil { chmod(socketPath, 0o666) }  // agents under other uids connect; the token authenticates them
        if access(Supervisor.setpriv, X_OK) == 0 {
            var setpriv = [Supervisor.setpriv]
            if let uid {
                // Ambient capabilities (a non-root kithd's) go too: the agent execs with none.
                setpriv += ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--inh-caps=-all", "--ambient-caps=-all",
                            "--bounding-set=-all"]
            }
            // pdeathsig: SIGKILL for the agent if this daemon dies without stopping it, even by SIGKILL.
            setpriv += ["--no-new-privs", "--pdeathsig", "KILL", "--"]
            if uid != nil, geteuid() != 0, let directory = workingDirectory {
                // Without root, the agent's 0700 directory can be entered only as the agent.
                setpriv += ["/bin/sh", "-c", #"cd "$1" || exit 126; shift; exec "$@""#, "kith-cd", directory]
                enterAfterSwitch = true
            }
            argv = setpriv + argv
        }
        if !spec.resources.hasNetwork {
            // Loopback only: a new network namespace, `lo` brought up inside it, before the uid is dropped.
            guard geteuid() == 0, access(Supervisor.unshare, X_OK) == 0,
                  let ip = Supervisor.ipCandidates.first(where: { access($0, X_OK) == 0 }) else {
                throw ContainmentError("network: none needs kithd to run as root with unshare and ip (util-linux, iproute2)")
            }
            argv = [Supervisor.unshare, "--net", "--", "/bin/sh", "-c", #"\#(ip) link set lo up || exit 125; exec "$@""#,
                    "kith-net"] + argv
        }
        launches += 1
        let cgroup = try containment.makeCgroup(for: record.name, leaf: "\(record.name).\(record.generation).\(launches)",
                                                limits: spec.resources)
        if cgroup != nil || uid != nil {
            // RLIMIT_NPROC counts the uid's processes: meaningful only with a uid of its own.
            let limits = spec.resources
            let processes = uid != nil && limits.processesMax > 0 ? String(limits.processesMax) : "-"
            argv = ["/bin/sh", "-c", Supervisor.launchScript, "kith-launch", String(limits.openFilesMax), processes]
                + (cgroup?.procsFiles ?? []) + ["--"] + argv
        }
        return Launch(argv: argv, cgroup: cgroup, uid: uid, workingDirectory: workingDirectory,
                      spawnDirectory: enterAfterSwitch ? nil : workingDirectory)
    }

    /// `sh -c SCRIPT kith-launch NOFILE NPROC|- PROCS... -- COMMAND...`: sets
    /// the open-files and process rlimits (`ulimit -u` in bash, `-p` in dash),
    /// writes its own pid into each cgroup.procs, then becomes the command
    /// (same pid, same cgroups): one shell instead of a chain of wrappers, as
    /// every exec here delays each restart.
    static let launchScript = #"""
        fail() { echo "kith: $1" >&2; exit 125; }
        ulimit -n "$1" || fail "cannot limit open files to $1"
        if [ "$2" != - ]; then { ulimit -u "$2" || ulimit -p "$2"; } 2>/dev/null || fail "cannot limit processes to $2"; fi
        shift 2
        while [ "$1" != -- ]; do echo $$ > "$1" || fail "cannot join cgroup $1"; shift; done
        shift
        exec "$@"
        """#

    private func inheritedEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        for key in ["PATH", "HOME", "LANG", "TZ", "USER"] {
            if let value = getenv(key) { environment[key] = String(cString: value) }
        }
        return environment
    }
}

/// Why an agent did not start: libuv's error name, or its containment's reason.
struct SpawnFailure: Error, CustomStringConvertible {
    /// Short and readable; the agent's record shows it as `spawn failed: NAME`.
    var name: String
    var description: String { name }
}

/// What /proc says about a process, for the record of an escapee.
struct ProcessInfo {
    var command: String
    var parent: Int32
    var processGroup: Int32
    var session: Int32
    var uid: UInt32

    init?(pid: Int32) {
        guard let stat = try? readWholeFile("/proc/\(pid)/stat"), let open = stat.firstIndex(of: "("),
              let close = stat.lastIndex(of: ")") else { return nil }
        command = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 4, let parent = Int32(fields[1]), let group = Int32(fields[2]), let session = Int32(fields[3])
        else { return nil }
        self.parent = parent
        processGroup = group
        self.session = session
        let status = (try? readWholeFile("/proc/\(pid)/status")) ?? ""
        let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }
        uid = uidLine.flatMap { $0.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap { UInt32($0) } } ?? 0
    }
}
