import CLibUV

/// The listening and accepting shared by `TCPListener` and `UnixListener`, which differ only in how they
/// create and bind their socket. It owns the handle (libuv retains it, not the public wrapper), so
/// `EventLoop.closeAll` closes it like any other handle.
final class StreamListener: HandleOwner {
    /// The listening uv_tcp_t or uv_pipe_t, used through its uv_stream_t prefix.
    let stream: UVHandle<uv_stream_t>

    private let loop: EventLoop  // the uv_loop_t must outlive the handle
    private let kind: StreamConnection.Kind
    private let framing: Framing
    private let maxQueuedBytes: Int
    private var onConnection: ((StreamConnection) -> Void)?
    private var isClosing = false

    /// Runs `initialise` (the `Concrete` handle's uv_*_init) on fresh memory, then `bind`, then listens.
    /// A failed init frees the memory; a failed bind or listen closes the handle.
    init<Concrete>(
        loop: EventLoop, kind: StreamConnection.Kind, _ concrete: Concrete.Type, framing: Framing,
        maxQueuedBytes: Int, backlog: Int32, onConnection: @escaping (StreamConnection) -> Void,
        initialise: (UnsafeMutablePointer<Concrete>) -> Int32,
        bind: (UnsafeMutablePointer<Concrete>) throws(UVError) -> Void
    ) throws(UVError) {
        let stream = UVHandle<uv_stream_t>(sizedFor: concrete)
        let initialised = initialise(stream.pointer(as: concrete))
        guard initialised == 0 else {
            stream.deallocateUninitialised()
            throw UVError(code: initialised)
        }
        self.stream = stream
        self.loop = loop
        self.kind = kind
        self.framing = framing
        self.maxQueuedBytes = maxQueuedBytes
        self.onConnection = onConnection
        stream.adopt(self)
        do throws(UVError) {
            try bind(stream.pointer(as: concrete))
            try listen(backlog: backlog)
        } catch {
            close()
            throw error
        }
    }

    private func listen(backlog: Int32) throws(UVError) {
        try UVError.check(uv_listen(stream.pointer, backlog) { server, status in
            let listener: StreamListener = owner(of: server)
            listener.accept(status: status)
        })
    }

    /// Stops accepting; connections already handed out stay open. Idempotent.
    func close() {
        guard !isClosing else { return }
        isClosing = true
        onConnection = nil
        stream.close()
    }

    func handleDidClose() {}

    private func accept(status: Int32) {
        // A failed accept (EMFILE, ECONNABORTED, ...) concerns one peer, not the listener: keep listening.
        guard status == 0, !isClosing,
              let connection = StreamConnection.accept(from: stream.pointer, kind: kind, loop: loop, framing: framing,
                                                       maxQueuedBytes: maxQueuedBytes)
        else { return }
        onConnection?(connection)
    }
}
