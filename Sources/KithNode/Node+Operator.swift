#if canImport(Glibc)
import Glibc
#endif
import KithCore
import KithUV

/// The operator commands' IO: a daemon that pauses itself.
extension Node {
    /// SIGSTOP itself once the answer has left, with a detached helper process
    /// to SIGCONT it later: a paused daemon cannot wake itself. Nil, or why not.
    func pauseSelf(for duration: Duration) -> String? {
        let millis = duration.nanoseconds / 1_000_000
        let fraction = String(millis % 1000)
        let seconds = "\(millis / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
        let options = SpawnOptions(executable: "/bin/sh", arguments: ["-c", "sleep \(seconds); kill -CONT \(getpid())"],
                                   environment: ["PATH": "/usr/bin:/bin"], newProcessGroup: true)
        do {
            _ = try ChildProcess.spawn(loop: loop, options: options) { _, _ in }
        } catch {
            return "cannot arrange the wake-up: \(error)"
        }
        afterReply { raise(SIGSTOP) }
        return nil
    }
}
