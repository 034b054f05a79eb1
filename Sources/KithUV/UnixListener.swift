import CLibUV
import Glibc

/// A listening Unix domain socket (for local clients such as agents) that hands each accepted peer over
/// as a reading `StreamConnection` with the listener's framing and queue limit. Use
/// `StreamConnection.peerCredentials()` to learn which process connected.
public final class UnixListener: HandleOwner {
    public let path: String

    private let loop: EventLoop  // the uv_loop_t must outlive the handle
    private let pipe = UVHandle<uv_pipe_t>()
    private let framing: Framing
    private let maxQueuedBytes: Int
    private var onConnection: ((StreamConnection) -> Void)?
    private var isClosing = false

    /// Removes a socket file left at `path` by an earlier run (any other kind of file is left alone and
    /// fails the bind with EADDRINUSE), binds, sets the file's permissions to `mode` and only then listens,
    /// so no peer can connect under looser permissions. A missing directory fails with EACCES (libuv's
    /// mapping of ENOENT); a path longer than a socket address holds (107 bytes) with ENAMETOOLONG.
    public init(
        loop: EventLoop, path: String, framing: Framing, maxQueuedBytes: Int = 1 << 20, mode: UInt32 = 0o600,
        backlog: Int32 = 128, onConnection: @escaping (StreamConnection) -> Void
    ) throws(UVError) {
        do throws(UVError) {
            try checkUnixSocketPath(path)
            try removeStaleSocket(at: path)
        } catch {
            pipe.deallocateUninitialised()
            throw error
        }
        let initialised = uv_pipe_init(loop.uvLoop, pipe.pointer, 0)
        guard initialised == 0 else {
            pipe.deallocateUninitialised()
            throw UVError(code: initialised)
        }
        self.path = path
        self.loop = loop
        self.framing = framing
        self.maxQueuedBytes = maxQueuedBytes
        self.onConnection = onConnection
        pipe.adopt(self)
        do throws(UVError) {
            try UVError.check(uv_pipe_bind(pipe.pointer, path))
            guard chmod(path, mode_t(mode)) == 0 else { throw UVError(code: -errno) }
            try UVError.check(uv_listen(pipe.stream, backlog) { server, status in
                let listener: UnixListener = owner(of: server)
                listener.accept(status: status)
            })
        } catch {
            close()
            throw error
        }
    }

    /// Stops accepting and removes the socket file (libuv unlinks the path it bound when the handle
    /// closes); connections already handed out stay open. Idempotent.
    public func close() {
        guard !isClosing else { return }
        isClosing = true
        onConnection = nil
        pipe.close()
    }

    func handleDidClose() {}

    private func accept(status: Int32) {
        // A failed accept (EMFILE, ...) concerns one peer, not the listener: keep listening.
        guard status == 0, !isClosing,
              let connection = StreamConnection.accept(from: pipe.stream, kind: .pipe, loop: loop, framing: framing,
                                                       maxQueuedBytes: maxQueuedBytes)
        else { return }
        onConnection?(connection)
    }
}

/// Rejects paths libuv would silently truncate to fit `sockaddr_un.sun_path` (or cannot use at all).
func checkUnixSocketPath(_ path: String) throws(UVError) {
    guard !path.isEmpty, !path.utf8.contains(0) else { throw UVError(code: UV_EINVAL.rawValue) }
    let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
    guard path.utf8.count < capacity else { throw UVError(code: UV_ENAMETOOLONG.rawValue) }
}

/// Unlinks `path` if it is a socket, so a socket file left by a crashed run does not block the bind.
private func removeStaleSocket(at path: String) throws(UVError) {
    var status = stat()
    guard lstat(path, &status) == 0 else { return }  // nothing there (or unreadable: let bind report it)
    guard status.st_mode & S_IFMT == S_IFSOCK else { return }
    guard unlink(path) == 0 || errno == ENOENT else { throw UVError(code: -errno) }
}
