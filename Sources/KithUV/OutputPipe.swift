import CLibUV
import Glibc

/// The read end of a pipe a child process writes its stdout or stderr into (`SpawnOptions.capturesOutput`),
/// so the parent can stamp and bound what the child writes. A real pipe (uv_pipe), not the socketpair
/// libuv makes for UV_CREATE_PIPE, so a child can still open /dev/stdout. Reading takes at most one
/// buffer per loop iteration: after a full buffer it yields to the loop (a 0 ms timer resumes it), so a
/// child writing without pause cannot stall the loop; meanwhile the child blocks on the full pipe.
public final class OutputPipe: HandleOwner {
    /// Bytes read per callback, and the most read per loop iteration.
    public static let readBufferBytes = 16 << 10

    /// Bytes delivered so far.
    public private(set) var bytesRead: UInt64 = 0

    private let loop: EventLoop  // the uv_loop_t must outlive the handle
    private let pipe = UVHandle<uv_pipe_t>()
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: OutputPipe.readBufferBytes, alignment: 1)
    /// The write end, for the child (dup2'ed onto its stdout or stderr); ours is closed once spawned.
    private(set) var childEnd: Int32
    private var onBytes: ((UnsafeRawBufferPointer) -> Void)?
    private var onEnd: (() -> Void)?
    private var resume: Timer?
    private var isClosing = false

    /// A pipe with both ends close-on-exec (libuv dup2s the write end into the child only); not read yet.
    init(loop: EventLoop) throws(UVError) {
        self.loop = loop
        var ends: [uv_file] = [-1, -1]
        let made = uv_pipe(&ends, Int32(UV_NONBLOCK_PIPE.rawValue), 0)  // the child's end stays blocking
        childEnd = ends[1]
        uv_pipe_init(loop.uvLoop, pipe.pointer, 0)  // cannot fail
        pipe.adopt(self)
        guard made == 0 else {
            close()
            throw UVError(code: made)
        }
        let opened = uv_pipe_open(pipe.pointer, ends[0])
        guard opened == 0 else {
            Glibc.close(ends[0])
            close()
            throw UVError(code: opened)
        }
    }

    deinit {
        buffer.deallocate()
    }

    /// Delivers what the child writes, chunk by chunk (the bytes are valid during the call only), then
    /// `onEnd` once when every writer has closed its end (or on a read error); the pipe then closes itself.
    public func startReading(onBytes: @escaping (UnsafeRawBufferPointer) -> Void, onEnd: @escaping () -> Void) {
        guard !isClosing else { return }
        self.onBytes = onBytes
        self.onEnd = onEnd
        read()
    }

    /// Stops reading and closes our end: a writer still holding the other gets EPIPE. `onEnd` does not run.
    /// Idempotent.
    public func close() {
        guard !isClosing else { return }
        isClosing = true
        onBytes = nil
        onEnd = nil
        closeChildEnd()
        resume?.close()
        resume = nil
        pipe.close()
    }

    func closeChildEnd() {
        if childEnd >= 0 { Glibc.close(childEnd) }
        childEnd = -1
    }

    func handleDidClose() {}

    private func read() {
        guard !isClosing else { return }
        let started = uv_read_start(pipe.stream, { handle, _, buffer in
            let pipe: OutputPipe = owner(of: handle)
            buffer!.pointee = uv_buf_init(pipe.buffer.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(pipe.buffer.count))
        }, { handle, count, _ in
            let pipe: OutputPipe = owner(of: handle)
            pipe.didRead(count)
        })
        if started < 0 { end() }
    }

    private func didRead(_ count: Int) {
        guard count > 0 else {
            if count < 0 { end() }  // UV_EOF, or an error: either way nothing more comes
            return
        }
        bytesRead += UInt64(count)
        onBytes?(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        guard !isClosing, count == buffer.count else { return }
        // A full buffer: more is probably waiting. Let the rest of the loop run first.
        uv_read_stop(pipe.stream)
        let timer = resume ?? Timer(loop: loop)
        resume = timer
        timer.start(afterMilliseconds: 0) { [weak self] in self?.read() }
    }

    private func end() {
        let onEnd = self.onEnd
        close()
        onEnd?()
    }
}
