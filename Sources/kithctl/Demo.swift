import Glibc

/// `demo`: failure detection made visible. Boots a lab, kills n3, and prints
/// each survivor's changing view of it until all agree it is dead.
enum Demo {
    static func run(_ arguments: [String]) throws {
        let options = try Arguments(arguments, options: ["--nodes", "--kithd"])
        try options.expectPositionals([], command: "demo")
        let count = try options.integer("--nodes", default: 5, in: 3...64)
        let kithd = try LabLayout.kithd(options.value("--kithd"))
        Interrupt.install()

        try Cluster.with(count: count, kithd: kithd) { cluster in
            print("Starting \(count) daemons (\(kithd)) in \(cluster.directory)")
            let booted = Waiting.clock.now
            try cluster.startAll()
            try cluster.waitConverged(timeout: 30)
            print("All \(count) nodes see each other alive after \(Table.duration(Waiting.milliseconds(since: booted))).\n")
            let first = cluster.nodes[0]
            print("Members as \(first.name) sees them:")
            try NodeCommands.members([], node: first.control)

            let victim = cluster.nodes[2]
            let survivors = cluster.nodes.filter { $0.name != victim.name }
            print("\nKilling \(victim.name) (pid \(victim.pid)) with SIGKILL. Each survivor's view of \(victim.name):")
            let killedAt = Waiting.clock.now
            cluster.signal(SIGKILL, victim)
            let times = try Views.waitFor(victim.name, toBe: "dead", by: survivors, since: killedAt, timeout: 30) { observer, state, elapsed in
                print("  +\(Table.duration(elapsed))\t\(observer) sees \(victim.name) \(state)")
            }
            print("\nEvery survivor marked \(victim.name) dead \(Table.duration(times.values.max() ?? 0)) after the kill"
                  + " (the first after \(Table.duration(times.values.min() ?? 0))).\n")
            print("Members as \(first.name) sees them now:")
            try NodeCommands.members([], node: first.control)
        }
        print("\nStopped all daemons.")
    }
}
