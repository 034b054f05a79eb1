import CLibUV
import Glibc

/// A listening Unix domain socket (for local clients such as agents) that hands each accepted peer over
/// as a reading `StreamConnection` with the listener's framing and queue limit. Use
/// `StreamConnection.peerCredentials()` to learn which process connected.
public final class UnixListener {
    public let path: String

    private let listener: StreamListener

    /// Removes a socket file left at `path` by an earlier run (any other kind of file is left alone and
    /// fails the bind with EADDRINUSE), binds, sets the file's permissions to `mode` and only then listens,
    /// so no peer can connect under looser permissions. A missing directory fails with EACCES (libuv's
    /// mapping of ENOENT); a path longer than a socket address holds (107 bytes) with ENAMETOOLONG.
    public init(
        loop: EventLoop, path: String, framing: Framing, maxQueuedBytes: Int = ShellLimits.unixQueuedBytesDefault, mode: UInt32 = 0o600,
        backlog: Int32 = ShellLimits.unixBacklogDefault, onConnection: @escaping (StreamConnection) -> Void
    ) throws(UVError) {
        try checkUnixSocketPath(path)
        try removeStaleSocket(at: path)
        self.path = path
        listener = try StreamListener(
            loop: loop, kind: .pipe, uv_pipe_t.self, framing: framing, maxQueuedBytes: maxQueuedBytes, backlog: backlog,
            onConnection: onConnection, initialise: { uv_pipe_init(loop.uvLoop, $0, 0) },
            bind: { pipe throws(UVError) in
                try UVError.check(uv_pipe_bind(pipe, path))
                guard chmod(path, mode_t(mode)) == 0 else { throw UVError(code: -errno) }
            })
    }

    /// Stops accepting and removes the socket file (libuv unlinks the path it bound when the handle
    /// closes); connections already handed out stay open. Idempotent.
    public func close() {
        listener.close()
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
