/// Large loopback labs start in waves. 256 daemons started at once on a 2-core machine starved each
/// other: their probes timed out, they suspected and refuted each other, and every such change
/// became a signed event on all 256 nodes, which starved them further; the cluster did not converge
/// in 30 s. A wave of `size` daemons (the first is the seed pool, `LabLayout.seedPool`) starts once
/// the previous one has joined, so the machine never has more than one wave's startup and join to do.
package enum LabWaves {
    /// Daemons started at once; labs up to this size start in one wave.
    package static let size = 32
    /// Older nodes (spread over the lab) that must also see each wave before the next starts.
    static let olderSample = 8

    /// Launches `nodes` wave by wave, recording each pid as it goes (`started` hears every wave, so a
    /// caller can save them), and waits after each wave but the last until its nodes, and a sample
    /// of the older ones, see every node started so far alive. `check` runs while waiting, with the
    /// nodes started so far, to fail early on a daemon that exited.
    package static func start(_ nodes: inout [LabNode], timeout: Double, launch: (LabNode) throws -> Int32,
                              started: ([LabNode]) throws -> Void = { _ in }, check: ([LabNode]) throws -> Void) throws {
        var begin = 0
        while begin < nodes.count {
            let wave = begin..<min(begin + size, nodes.count)
            for index in wave { nodes[index].pid = try launch(nodes[index]) }
            try started(nodes)
            begin = wave.upperBound
            guard begin < nodes.count else { return }
            let running = Array(nodes[..<begin])
            // The newcomers, and a sample of the older nodes, so the next wave waits for the news to spread.
            let older = stride(from: 0, to: wave.lowerBound, by: max(1, wave.lowerBound / olderSample)).map { nodes[$0] }
            try Convergence.wait(observers: Array(nodes[wave]) + older, seeing: running, timeout: timeout) { try check(running) }
        }
    }
}
