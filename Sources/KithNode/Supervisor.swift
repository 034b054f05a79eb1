#if canImport(Glibc)
import Glibc
#endif
import KithCore
import KithUV

/// Runs this node's agent processes: `uv_spawn` in their own process group,
/// stdout and stderr appended to `DATA/agents/NAME.log`, exits reported at
/// once. Stopping is SIGTERM to the whole group, then SIGKILL after a grace
/// period, so an agent's children never outlive it.
final class Supervisor {
    private let loop: EventLoop
    private let logger: Logger
    private let logDirectory: String
    private let socketPath: String
    private let nodeName: String
    private var processes: [String: Running] = [:]
    private var dying: [Int32: ChildProcess] = [:]
    private let graceMilliseconds: UInt64

    static let setpriv = "/usr/bin/setpriv"

    /// The process exited: name, generation, a readable status.
    var onExit: ((String, UInt64, String) -> Void)?

    struct Running {
        var generation: UInt64
        var process: ChildProcess
        var token: String
        var checkpoint: Checkpoint?
        var relaunched: Bool
    }

    init(loop: EventLoop, logger: Logger, dataDir: String, socketPath: String, nodeName: String,
         graceMilliseconds: UInt64 = 2000) {
        self.loop = loop
        self.logger = logger
        self.logDirectory = dataDir + "/agents"
        self.socketPath = socketPath
        self.nodeName = nodeName
        self.graceMilliseconds = graceMilliseconds
    }

    /// The agent's token and launch facts, for the gateway's hello.
    func session(for name: String) -> Running? { processes[name] }

    var runningCount: Int { processes.count }

    /// Starts one generation of an agent; returns its pid or why it failed.
    func spawn(_ record: AgentRecord, checkpoint: Checkpoint?) -> Result<Int32, UVError> {
        if let old = processes.removeValue(forKey: record.name) { terminate(old.process) }
        _ = makeDirectory(logDirectory)
        let token = String(ProcessStats.randomUInt64(), radix: 16) + String(ProcessStats.randomUInt64(), radix: 16)
        var environment = inheritedEnvironment()
        for (key, value) in record.spec.env { environment[key] = value }
        environment["KITH_AGENT"] = record.name
        environment["KITH_SOCKET"] = socketPath
        environment["KITH_TOKEN"] = token
        environment["KITH_NODE"] = nodeName
        environment["KITH_GENERATION"] = String(record.generation)
        environment["KITH_POLICY"] = record.spec.policy.rawValue
        environment["KITH_PROTECTS"] = record.spec.protects.joined(separator: ",")
        let log = logDirectory + "/" + record.name + ".log"
        // Through setpriv (util-linux, always on Debian) the agent gets SIGKILL if this daemon dies
        // without stopping it, even by SIGKILL: no orphan agent outlives its daemon.
        let wrapped = access(Supervisor.setpriv, X_OK) == 0
        let options = SpawnOptions(executable: wrapped ? Supervisor.setpriv : record.spec.command,
                                   arguments: wrapped ? ["--pdeathsig", "KILL", "--", record.spec.command] + record.spec.args
                                                      : record.spec.args,
                                   environment: environment,
                                   workingDirectory: record.spec.workingDirectory.isEmpty ? nil : record.spec.workingDirectory,
                                   stdoutPath: log, stderrPath: log, newProcessGroup: true)
        let name = record.name
        let generation = record.generation
        do {
            var spawnedPID: Int32 = 0
            let process = try ChildProcess.spawn(loop: loop, options: options) { [weak self] status, signal in
                self?.exited(name, generation: generation, pid: spawnedPID, status: status, signal: signal)
            }
            spawnedPID = process.pid
            processes[name] = Running(generation: generation, process: process, token: token, checkpoint: checkpoint,
                                      relaunched: record.reason.hasPrefix("relaunched"))
            logger.record(.info, "agent_spawned", ["agent": .string(name), "generation": .int(Int64(generation)),
                                          "pid": .int(Int64(process.pid))])
            return .success(process.pid)
        } catch {
            logger.record(.warn, "agent_spawn_failed", ["agent": .string(name), "error": .string(error.description)])
            return .failure(error)
        }
    }

    /// Stops one generation: SIGTERM to its group, SIGKILL after the grace period.
    func stop(_ name: String, generation: UInt64) {
        guard let running = processes[name], running.generation == generation else { return }
        processes[name] = nil
        terminate(running.process)
    }

    /// SIGKILLs the agent's process as a crash would: the exit is reported
    /// and restart rules apply. False when it does not run here.
    func crash(_ name: String) -> Bool {
        guard let running = processes[name], !running.process.hasExited else { return false }
        return running.process.signal(SIGKILL) == nil
    }

    /// The kill-switch's fence: SIGKILL the agent's whole process group at
    /// once, whatever generation runs here, and forget it.
    func killGroupNow(_ name: String) {
        guard let running = processes.removeValue(forKey: name) else { return }
        dying[running.process.pid] = running.process
        _ = running.process.signalGroup(SIGKILL)
    }

    /// Stops every agent and calls `completion` once all have exited, or
    /// after `graceMilliseconds` with SIGKILL to whatever is left: the daemon
    /// must exit within 2 s of SIGTERM and leave no orphan behind.
    func stopAll(graceMilliseconds: UInt64 = 1000, completion: @escaping () -> Void) {
        let all = processes.values.map(\.process)
        for process in all { terminate(process) }
        processes = [:]
        let timer = Timer(loop: loop)
        let deadline = loop.nowMilliseconds + graceMilliseconds
        timer.start(afterMilliseconds: 10, repeatMilliseconds: 10) { [weak self] in
            guard let self, !self.dying.isEmpty, self.loop.nowMilliseconds < deadline else {
                timer.close()
                for process in all { _ = process.signalGroup(SIGKILL) }
                completion()
                return
            }
        }
    }

    private func terminate(_ process: ChildProcess) {
        guard !process.hasExited else { return }
        dying[process.pid] = process
        _ = process.signalGroup(SIGTERM)
        let timer = Timer(loop: loop)
        timer.start(afterMilliseconds: graceMilliseconds) {
            timer.close()
            // Even after the leader exited, a child of it that ignored SIGTERM may linger in the group.
            _ = process.signalGroup(SIGKILL)
        }
    }

    private func exited(_ name: String, generation: UInt64, pid: Int32, status: Int64, signal: Int32) {
        if dying.removeValue(forKey: pid) != nil { return }  // we stopped it: not a crash
        guard let running = processes[name], running.generation == generation else { return }
        processes[name] = nil
        // Whatever the agent left in its group goes with it: no orphans.
        kill(-pid, SIGKILL)
        let text = signal != 0 ? "signal \(signal)" : "exit status \(status)"
        logger.record(.warn, "agent_exited", ["agent": .string(name), "generation": .int(Int64(generation)),
                                     "pid": .int(Int64(pid)), "status": .string(text)])
        onExit?(name, generation, text)
    }

    private func inheritedEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        for key in ["PATH", "HOME", "LANG", "TZ", "USER"] {
            if let value = getenv(key) { environment[key] = String(cString: value) }
        }
        return environment
    }
}
