import Glibc

/// kith-agent: the reference agent kithd hosts. Connects to the daemon's agent
/// socket, keeps a checkpointed counter, pings the peers it protects and, per
/// its policy, relaunches (and perhaps masks) them when they are lost.
/// Exits 0 on SIGTERM, 1 if the daemon goes away, 2 on a usage error.

signal(SIGPIPE, SIG_IGN)
signal(SIGTERM) { _ in
    let note: StaticString = "kith-agent: SIGTERM, exiting\n"
    _ = write(1, note.utf8Start, note.utf8CodeUnitCount)
    _exit(0)
}

let variables = ["KITH_AGENT", "KITH_SOCKET", "KITH_TOKEN", "KITH_NODE", "KITH_GENERATION",
                 "KITH_POLICY", "KITH_PROTECTS", "KITH_INTERVAL_MS"]
var environment: [String: String] = [:]
for name in variables {
    if let value = getenv(name) { environment[name] = String(cString: value) }
}

let options: Options
do {
    switch try Options.parse(Array(CommandLine.arguments.dropFirst()), environment: environment) {
    case .help:
        writeStdout(Options.usage + "\n")
        exit(0)
    case .run(let parsed):
        options = parsed
    }
} catch {
    writeStderr("kith-agent: error: \(error)\n\(Options.usage)\n")
    exit(2)
}

switch options.mode {
case .reference:
    break
case .flood(let settings):
    runFlood(options, settings)  // returns only when the daemon goes away
    exit(1)
case .sink(let settings):
    runSink(options, settings)
    exit(1)
}

do {
    let connection = try AgentConnection(path: options.socketPath)
    let agent = Agent(options: options, connection: connection)
    try agent.start()
    try agent.run()
    writeStderr("kith-agent: the daemon closed the connection\n")
} catch {
    writeStderr("kith-agent: error: \(error)\n")
}
exit(1)
