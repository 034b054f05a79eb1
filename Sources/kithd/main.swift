#if canImport(Glibc)
import Glibc
#endif
import KithCore
import KithCrypto
import KithNode
import KithUV

/// kithd: one Kith node. Parses flags and config, runs the libuv loop,
/// leaves gracefully on SIGTERM or SIGINT, reopens its logs on SIGHUP.

let usage = """
    usage: kithd --name NAME --listen HOST:PORT --control HOST:PORT
                 [--join HOST:PORT,...] [--advertise HOST:PORT] [--data-dir DIR]
                 [--capacity N] [--tag KEY=VALUE]... [--log-level debug|info|warn|error]
                 [--relaunch-quorum any|majority] [--operator-key HEX]... [--cluster-key-file FILE]
                 [--cluster NAME] [--insecure] [--node-cert FILE] [--http HOST:PORT [--http-token-file FILE]]
                 [--log-file FILE] [--config FILE] [--config-from-env]
           kithd --check-config FILE [FLAGS...]   (or --check with any of the above)
           kithd --version | --help
    Precedence: the JSON config file < KITH_* environment variables (with --config-from-env;
    KITH_ and the key in capitals, e.g. KITH_DATA_DIR, or KITH_<KEY>_FILE) < flags. See README.md.
    Cluster keys come from a file (--cluster-key-file, one ID:HEX a line) or KITH_CLUSTER_KEYS(_FILE),
    never from the command line. The data directory defaults to /var/lib/kith/NAME as root, else
    $XDG_STATE_HOME/kith/NAME or ~/.local/state/kith/NAME; one owned by another user is refused.
    --cluster names the cluster signed operator requests must be for; --insecure runs without a
    cluster key (node-to-node frames unauthenticated). --node-cert is this node's certificate (its
    name and key signed by the operator: kithctl node certify); with one, every member must have one.
    --http serves the dashboard (/) and read-only /metrics, /healthz, /readyz and
    /api/v1/{members,agents,status,events,stream};
    off unless set (use 127.0.0.1 to keep it local); --http-token-file requires a bearer token
    on all but /healthz, /readyz, the dashboard page / and CORS preflights (OPTIONS under /api/v1/).
    --check prints every problem with the configuration, or "ok", and exits 2 or 0 without starting.
    --log-file FILE appends kithd's log lines to FILE instead of standard error.
    SIGTERM and SIGINT make kithd leave the cluster gracefully and exit 0; SIGHUP reopens
    --log-file and rotates agent logs past agent_log_bytes_max (for logrotate).
    """

func fail(_ message: String, code: Int32) -> Never {
    writeStderr("kithd: error: \(message)\n")
    exit(code)
}

/// What kithd does besides parsing flags: the switches that are not config keys.
struct Mode {
    var check = false
    var fromEnvironment = false
    var arguments: [String] = []

    /// Takes `--check`, `--check-config FILE` (`--check --config FILE`) and `--config-from-env` out of `arguments`.
    init(_ raw: [String]) {
        var index = 0
        while index < raw.count {
            switch raw[index] {
            case "--check": check = true
            case "--config-from-env": fromEnvironment = true
            case "--check-config" where index + 1 < raw.count:
                check = true
                arguments += ["--config", raw[index + 1]]
                index += 1
            default: arguments.append(raw[index])
            }
            index += 1
        }
    }
}

let rawArguments = Array(CommandLine.arguments.dropFirst())
if rawArguments.first == "--version" {
    print("kithd \(KithVersion.string)")
    exit(0)
}
if rawArguments.contains("--help") || rawArguments.contains("-h") {
    print(usage)
    exit(0)
}
if rawArguments.contains(where: { $0 == "--cluster-key" || $0.hasPrefix("--cluster-key=") }) {
    fail("--cluster-key is gone: a key on the command line shows in ps and /proc to every user;"
         + " put the keys in a file (--cluster-key-file FILE, one ID:HEX a line) or KITH_CLUSTER_KEYS_FILE", code: 2)
}
let mode = Mode(rawArguments)
let environment = mode.fromEnvironment ? processEnvironment() : nil

if mode.check {
    let (_, problems) = NodeConfig.check(arguments: mode.arguments, environment: environment, readFile: readWholeFile)
    guard problems.isEmpty else {
        for problem in problems { writeStderr("kithd: config: \(problem)\n") }
        exit(2)
    }
    print("ok")
    exit(0)
}

let config: NodeConfig
do {
    config = try NodeConfig.parse(arguments: mode.arguments, environment: environment, readFile: readWholeFile)
} catch {
    writeStderr("kithd: error: \(error)\n\(usage)\n")
    exit(2)
}

// Before anything is read from it: a data directory someone else controls could hold their node key.
if let problem = prepareDataDirectory(config.effectiveDataDir) { fail(problem, code: 2) }

signal(SIGPIPE, SIG_IGN)
Sodium.ensureInitialized()

let logFile: LogFile?
do {
    logFile = config.logFile.isEmpty ? nil : try LogFile(path: config.logFile)
} catch {
    fail("log_file: \(error)", code: 2)
}
let logger = Logger(level: config.logLevel, fields: ["node": .string(config.name)],
                    clock: { ProcessStats.wallMilliseconds }, sink: { line in
                        if let logFile { logFile.write(line: line) } else { writeStderr(line + "\n") }
                    })
do {
    OpenFiles.raiseSoftLimit()
    let loop = try EventLoop()
    let node = try Node(config: config, loop: loop, logger: logger)
    var watchers: [SignalWatcher] = []
    var stopping = false
    let systemd = SystemdNotifier(environment: processEnvironment())
    // SIGHUP is handled too (never the default, which would kill the node without a goodbye):
    // it reopens the log files, as logrotate expects.
    watchers.append(try SignalWatcher(loop: loop, signal: SIGHUP) { _ in node.reopenLogs(logFile) })
    for number in [SIGTERM, SIGINT] {
        watchers.append(try SignalWatcher(loop: loop, signal: number) { received in
            logger.info("signal", ["signal": .int(Int64(received)), "leaving": .bool(!stopping)])
            guard !stopping else { return }
            stopping = true
            systemd?.stop()
            node.shutdown {
                for watcher in watchers { watcher.close() }
                logger.info("stopped")
                loop.stop()
            }
        })
    }
    node.start()
    systemd?.notify("READY=1")
    systemd?.startWatchdog(loop: loop, environment: processEnvironment())
    loop.run()
    exit(0)
} catch {
    fail("\(error)", code: 1)
}
