import CLibUV

/// A libuv timer. Like every KithUV handle it stays alive until `close()` (or `EventLoop.closeAll()`),
/// even if the caller drops its reference, so one `Timer` can be started, stopped and restarted freely.
public final class Timer: HandleOwner {
    private let loop: EventLoop  // the uv_loop_t must outlive the handle
    private let timer = UVHandle<uv_timer_t>()
    private var callback: (() -> Void)?
    private var isClosing = false
    /// Runs once the handle has closed, whoever closed it (`EventLoop.closeAll` included).
    var onClosed: (() -> Void)?

    public init(loop: EventLoop) {
        self.loop = loop
        uv_timer_init(loop.uvLoop, timer.pointer)  // cannot fail
        timer.adopt(self)
    }

    /// Calls `callback` after `afterMilliseconds`, then every `repeatMilliseconds` if that is non-zero.
    /// Starting a started timer replaces its schedule and callback.
    public func start(afterMilliseconds: UInt64, repeatMilliseconds: UInt64 = 0, _ callback: @escaping () -> Void) {
        guard !isClosing else { return }
        self.callback = callback
        uv_timer_start(timer.pointer, { handle in
            let timer: Timer = owner(of: handle)
            timer.callback?()
        }, afterMilliseconds, repeatMilliseconds)
    }

    public func stop() {
        guard !isClosing else { return }
        uv_timer_stop(timer.pointer)
    }

    /// Stops the timer for good and releases it once libuv lets go; idempotent.
    public func close() {
        guard !isClosing else { return }
        isClosing = true
        callback = nil
        timer.close()
    }

    func handleDidClose() {
        let onClosed = self.onClosed
        self.onClosed = nil
        onClosed?()
    }
}
