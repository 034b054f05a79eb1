import CLibUV

/// Delivers a POSIX signal as a loop callback (libuv's self-pipe), so handlers may do real work instead
/// of being restricted to async-signal-safe calls. Active until `close()`; an open watcher keeps `run()` going.
public final class SignalWatcher: HandleOwner {
    private let loop: EventLoop  // the uv_loop_t must outlive the handle
    private let watcher = UVHandle<uv_signal_t>()
    private var callback: ((Int32) -> Void)?
    private var isClosing = false

    public init(loop: EventLoop, signal number: Int32, _ callback: @escaping (Int32) -> Void) throws(UVError) {
        let initialised = uv_signal_init(loop.uvLoop, watcher.pointer)
        guard initialised == 0 else {
            watcher.deallocateUninitialised()
            throw UVError(code: initialised)
        }
        self.loop = loop
        self.callback = callback
        watcher.adopt(self)
        let started = uv_signal_start(watcher.pointer, { handle, number in
            let watcher: SignalWatcher = owner(of: handle)
            watcher.callback?(number)
        }, number)
        if started < 0 {
            close()
            throw UVError(code: started)
        }
    }

    /// Stops watching and releases the handle once libuv lets go; idempotent.
    public func close() {
        guard !isClosing else { return }
        isClosing = true
        callback = nil
        watcher.close()
    }

    func handleDidClose() {}
}
