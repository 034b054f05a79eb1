#if canImport(Glibc)
import Glibc
#endif
import KithCore
import KithCrypto
import KithNode
import KithUV

/// kithd: one Kith node. Parses flags and config, runs the libuv loop,
/// leaves gracefully on SIGTERM or SIGINT.

let usage = """
    usage: kithd --name NAME --listen HOST:PORT --control HOST:PORT
                 [--join HOST:PORT,...] [--advertise HOST:PORT] [--data-dir DIR]
                 [--capacity N] [--tag KEY=VALUE]... [--log-level debug|info|warn|error]
                 [--config FILE]
    Flags override the same keys in the JSON config file (see README.md).
    """

func fail(_ message: String, code: Int32) -> Never {
    writeStderr("kithd: error: \(message)\n")
    exit(code)
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
    print(usage)
    exit(0)
}

let config: NodeConfig
do {
    config = try NodeConfig.parse(arguments: arguments, readFile: readWholeFile)
} catch {
    writeStderr("kithd: error: \(error)\n\(usage)\n")
    exit(2)
}

signal(SIGPIPE, SIG_IGN)
Sodium.ensureInitialized()

let logger = Logger(level: config.logLevel, fields: ["node": .string(config.name)],
                    clock: { ProcessStats.wallMilliseconds }, sink: { line in writeStderr(line + "\n") })
do {
    let loop = try EventLoop()
    let node = try Node(config: config, loop: loop, logger: logger)
    var watchers: [SignalWatcher] = []
    for number in [SIGTERM, SIGINT] {
        watchers.append(try SignalWatcher(loop: loop, signal: number) { received in
            logger.info("signal", ["signal": .int(Int64(received))])
            node.shutdown {
                for watcher in watchers { watcher.close() }
                logger.info("stopped")
                loop.stop()
            }
        })
    }
    node.start()
    loop.run()
    exit(0)
} catch {
    fail("\(error)", code: 1)
}
