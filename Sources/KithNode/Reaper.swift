#if canImport(Glibc)
import Glibc
#endif
import KithUV

/// kithd is its agents' child subreaper (`PR_SET_CHILD_SUBREAPER`): a process
/// that double-forks away from its agent comes back to kithd as a child
/// instead of to init, so it stays visible and is reaped here. libuv waits
/// only for the pids it spawned, so this reaps the others and never touches
/// libuv's: it peeks at the next exited child without reaping it (`WNOWAIT`)
/// and stops at the first that belongs to libuv, which libuv reaps itself.
final class Reaper {
    private let isLibUVChild: (Int32) -> Bool
    private var watcher: SignalWatcher?
    private let sweepTimer: Timer
    /// Whether the kernel accepted the subreaper role.
    let isSubreaper: Bool

    init(loop: EventLoop, isLibUVChild: @escaping (Int32) -> Bool) {
        self.isLibUVChild = isLibUVChild
        isSubreaper = ChildProcess.becomeSubreaper()
        sweepTimer = Timer(loop: loop)
        watcher = try? SignalWatcher(loop: loop, signal: SIGCHLD) { [weak self] _ in self?.sweep() }
        // SIGCHLD can arrive while libuv's own zombie heads the queue: a slow sweep catches the rest.
        sweepTimer.start(afterMilliseconds: 1000, repeatMilliseconds: 1000) { [weak self] in self?.sweep() }
    }

    /// Reaps exited children that are not libuv's (bounded per call); returns how many.
    @discardableResult
    func sweep() -> Int {
        var reaped = 0
        while reaped < Reaper.sweepMax {
            let pid = ChildProcess.peekExitedChild()
            guard pid > 0, !isLibUVChild(pid) else { break }
            guard waitpid(pid, nil, WNOHANG) == pid else { break }
            reaped += 1
        }
        return reaped
    }

    func close() {
        watcher?.close()
        watcher = nil
        sweepTimer.close()
    }

    static let sweepMax = 256
}
