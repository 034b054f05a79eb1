import Foundation
import Glibc
import KithControl

/// Daemons that one kithctl run (bench, demo) starts in a temporary directory
/// and always tears down, whether the run succeeds, fails or is interrupted.
package final class Cluster {
    package let directory: String
    package let kithd: String
    /// A throwaway operator key in the cluster's directory: its daemons obey it
    /// and nothing else, and the operator's own key and counter stay untouched.
    package let signer: OperatorSigner
    private(set) var nodes: [LabNode] = []

    private init(count: Int, kithd: String) throws {
        var template = Array((FileManager.default.temporaryDirectory.path + "/kith-lab-XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else {
            throw Failure("cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: created)
        self.kithd = kithd
        signer = try OperatorKey.generate(at: directory + "/operator.key").signer()
        nodes = try LabLayout.plan(count: count, directory: directory, operatorKey: signer.publicKeyHex, signer: signer)
    }

    /// Runs `body` on a fresh cluster of `count` planned (not yet started) nodes,
    /// then kills every daemon. The directory is removed unless `body` failed,
    /// in which case the error names it so the daemons' logs can be read.
    package static func with<T>(count: Int, kithd: String, _ body: (Cluster) throws -> T) throws -> T {
        let cluster = try Cluster(count: count, kithd: kithd)
        do {
            let result = try body(cluster)
            cluster.tearDown(removingDirectory: true)
            return result
        } catch is Interrupted {
            cluster.tearDown(removingDirectory: true)
            throw Interrupted()
        } catch {
            cluster.tearDown(removingDirectory: false)
            throw Failure("\(error)\n(daemon logs kept in \(cluster.directory))")
        }
    }

    /// Starts every node, as a cluster booting together would: at once, or in `LabWaves` in a lab
    /// larger than one wave, each wave once the previous one joined (within `timeout`).
    package func startAll(timeout: Double = 30) throws {
        let kithd = kithd
        try LabWaves.start(&nodes, timeout: timeout, launch: { try LabLayout.launch($0, kithd: kithd) }) { running in
            for node in running { try LabLayout.checkStillRunning(node) }
        }
    }

    /// Waits until every node sees every other alive, failing at once if a daemon exits.
    package func waitConverged(timeout: Double) throws {
        try Convergence.wait(observers: nodes, seeing: nodes, timeout: timeout) { try checkStillRunning() }
    }

    /// CPU seconds (user and system) the daemons have used so far, together.
    package func daemonCPUSeconds() -> Double {
        nodes.compactMap { Processes.cpuSeconds(of: $0.pid) }.reduce(0, +)
    }

    /// Fails with a daemon's log if one has exited, other than those in `except` (killed on purpose).
    package func checkStillRunning(except: Set<String> = []) throws {
        for node in nodes where !except.contains(node.name) { try LabLayout.checkStillRunning(node) }
    }

    package func signal(_ signal: Int32, _ node: LabNode) {
        kill(node.pid, signal)
    }

    /// SIGKILL rather than a graceful stop: nothing here is worth waiting for.
    /// SIGCONT first so a paused daemon does not linger; then reap every child,
    /// and kill any agent process the daemons leave behind.
    private func tearDown(removingDirectory: Bool) {
        Processes.killLab(nodes, directory: directory)
        if removingDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }
}
