import CLibUV
import Glibc

/// Owns one uv_loop_t. libuv loops are single-threaded, so everything except `post` must be called on
/// the thread running `run()`; `post` is the one door in from other threads (a uv_async_t plus a locked
/// queue). Every handle keeps its loop alive, so the uv_loop_t is only torn down once all are closed.
public final class EventLoop: @unchecked Sendable {
    let uvLoop: UnsafeMutablePointer<uv_loop_t>
    private let wakeup: UVHandle<uv_async_t>
    /// Guards `posted`. A pthread mutex rather than `Synchronization.Mutex` so ThreadSanitizer sees it.
    private let postedLock: UnsafeMutablePointer<pthread_mutex_t>
    private var posted: [@Sendable () -> Void] = []
    /// While > 0 (inside a read callback), `StreamConnection.send` batches its frames;
    /// the batches leave with one write per connection when the read is done.
    var corkDepth = 0
    var corkedConnections: [StreamConnection] = []

    public init() throws(UVError) {
        let uvLoop = UnsafeMutablePointer<uv_loop_t>.allocate(capacity: 1)
        let wakeup = UVHandle<uv_async_t>()
        let initialised = uv_loop_init(uvLoop)
        let asyncInitialised = initialised < 0 ? initialised : uv_async_init(uvLoop, wakeup.pointer) { async in
            let loop: EventLoop = Unmanaged.fromOpaque(async!.pointee.loop.pointee.data).takeUnretainedValue()
            loop.runPosted()
        }
        guard asyncInitialised == 0 else {
            if initialised == 0 { uv_loop_close(uvLoop) }
            wakeup.deallocateUninitialised()
            uvLoop.deallocate()
            throw UVError(code: asyncInitialised)
        }
        // Internal handle: nil `data` hides it from closeAll, unref keeps it from holding run() open.
        wakeup.handle.pointee.data = nil
        uv_unref(wakeup.handle)
        self.uvLoop = uvLoop
        self.wakeup = wakeup
        postedLock = .allocate(capacity: 1)
        pthread_mutex_init(postedLock, nil)
        uvLoop.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        // Every other handle retains the loop, so only the wakeup handle can still be open here.
        wakeup.close()
        uv_run(uvLoop, UV_RUN_DEFAULT)
        let closed = uv_loop_close(uvLoop)
        assert(closed == 0, "uv_loop_close: \(UVError(code: closed))")
        uvLoop.deallocate()
        pthread_mutex_destroy(postedLock)
        postedLock.deallocate()
    }

    /// Runs until `stop()` or until no referenced handle or request is active.
    public func run() {
        uv_run(uvLoop, UV_RUN_DEFAULT)
    }

    /// Makes `run()` return after the current iteration.
    public func stop() {
        uv_stop(uvLoop)
    }

    /// The loop's millisecond clock, cached at the start of each iteration (what timers are measured against).
    public var nowMilliseconds: UInt64 { uv_now(uvLoop) }

    /// A fresh monotonic high-resolution reading, for measuring durations.
    public var hrtimeNanoseconds: UInt64 { uv_hrtime() }

    /// Runs `work` on the loop thread during a later iteration. Safe to call from any thread. The
    /// wakeup handle is unreferenced, so a loop with nothing else to do may return before running it.
    public func post(_ work: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(postedLock)
        posted.append(work)
        pthread_mutex_unlock(postedLock)
        uv_async_send(wakeup.pointer)
    }

    /// Closes every handle of this loop (timers, watchers, listeners, connections), so that `run()`
    /// returns once their close callbacks have run. For shutdown.
    public func closeAll() {
        uv_walk(uvLoop, { handle, _ in
            guard let handle, uv_is_closing(handle) == 0, let data = handle.pointee.data else { return }
            (Unmanaged<AnyObject>.fromOpaque(data).takeUnretainedValue() as! HandleOwner).close()
        }, nil)
    }

    private func runPosted() {
        pthread_mutex_lock(postedLock)
        let work = posted
        posted = []
        pthread_mutex_unlock(postedLock)
        for item in work { item() }
    }

    /// Batches writes until the matching `uncork`: one write(2) per connection
    /// for everything a burst of incoming frames caused, not one per frame.
    func cork() { corkDepth += 1 }

    func uncork() {
        corkDepth -= 1
        guard corkDepth == 0, !corkedConnections.isEmpty else { return }
        let connections = corkedConnections
        corkedConnections = []
        for connection in connections { connection.flushBatch() }
    }
}
