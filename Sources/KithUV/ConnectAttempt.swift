import CLibUV
import Glibc

/// One `TCPConnection.connect`: resolve, try each address in turn, all under one deadline. It keeps
/// itself alive through its requests and deadline timer, and guarantees the completion runs exactly once:
/// with the connection, the first fatal error, ETIMEDOUT, or ECANCELED when `EventLoop.closeAll` closes
/// the deadline timer first.
final class ConnectAttempt {
    private let loop: EventLoop
    private let framing: Framing
    private let maxQueuedBytes: Int
    private var completion: ((Result<TCPConnection, UVError>) -> Void)?
    private let deadline: Timer
    /// The uv_getaddrinfo request while resolution is in flight, so a timeout can cancel it.
    private var resolving: UnsafeMutablePointer<uv_getaddrinfo_t>?
    private var candidates: [SocketAddress] = []
    /// The connection whose uv_tcp_connect is in flight.
    private var connecting: TCPConnection?

    init(loop: EventLoop, framing: Framing, maxQueuedBytes: Int,
         completion: @escaping (Result<TCPConnection, UVError>) -> Void) {
        self.loop = loop
        self.framing = framing
        self.maxQueuedBytes = maxQueuedBytes
        self.completion = completion
        deadline = Timer(loop: loop)
        deadline.onClosed = { [self] in finish(.failure(UVError(code: UV_ECANCELED.rawValue))) }
    }

    func start(host: String, port: UInt16, timeoutMilliseconds: UInt64) {
        deadline.start(afterMilliseconds: timeoutMilliseconds) { [self] in
            finish(.failure(UVError(code: UV_ETIMEDOUT.rawValue)))
        }
        let request = UnsafeMutablePointer<uv_getaddrinfo_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passRetained(self).toOpaque()
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        let result = uv_getaddrinfo(loop.uvLoop, request, { request, status, addresses in
            let attempt = Unmanaged<ConnectAttempt>.fromOpaque(request!.pointee.data).takeRetainedValue()
            request!.deallocate()
            attempt.resolved(status: status, addresses: addresses)
            uv_freeaddrinfo(addresses)
        }, host, String(port), &hints)
        if result < 0 {
            Unmanaged.passUnretained(self).release()
            request.deallocate()
            // Report from the loop, not from inside connect(), so callers never see re-entrant completions.
            deadline.start(afterMilliseconds: 0) { [self] in finish(.failure(UVError(code: result))) }
            return
        }
        resolving = request
    }

    private func resolved(status: Int32, addresses: UnsafeMutablePointer<addrinfo>?) {
        resolving = nil
        guard completion != nil else { return }
        guard status == 0 else { return finish(.failure(UVError(code: status))) }
        var next = addresses
        while let address = next {
            candidates.append(SocketAddress(copying: address.pointee.ai_addr, length: Int(address.pointee.ai_addrlen)))
            next = address.pointee.ai_next
        }
        tryNextCandidate(lastError: UVError(code: UV_EAI_NONAME.rawValue))
    }

    private func tryNextCandidate(lastError: UVError) {
        guard !candidates.isEmpty else { return finish(.failure(lastError)) }
        let address = candidates.removeFirst()
        let connection: TCPConnection
        do {
            connection = try TCPConnection(loop: loop, kind: .tcp, framing: framing, maxQueuedBytes: maxQueuedBytes)
        } catch {
            return finish(.failure(error))
        }
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passRetained(self).toOpaque()
        let result = address.withSockaddr { address in
            uv_tcp_connect(request, connection.stream.pointer(as: uv_tcp_t.self), address) { request, status in
                let attempt = Unmanaged<ConnectAttempt>.fromOpaque(request!.pointee.data).takeRetainedValue()
                request!.deallocate()
                attempt.connected(status: status)
            }
        }
        guard result == 0 else {
            Unmanaged.passUnretained(self).release()
            request.deallocate()
            connection.close()
            return tryNextCandidate(lastError: UVError(code: result))
        }
        connecting = connection
    }

    private func connected(status: Int32) {
        guard let connection = connecting else { return }
        connecting = nil
        guard status == 0 else {
            connection.close()
            // ECANCELED means closeAll closed the handle: shutting down, so try nothing else.
            let error = UVError(code: status)
            return status == UV_ECANCELED.rawValue ? finish(.failure(error)) : tryNextCandidate(lastError: error)
        }
        connection.didOpen()
        finish(.success(connection))
    }

    private func finish(_ result: Result<TCPConnection, UVError>) {
        guard let completion else { return }
        self.completion = nil
        deadline.close()
        if let resolving { uv_cancel(UnsafeMutablePointer(OpaquePointer(resolving))) }
        connecting?.close()
        connecting = nil
        completion(result)
    }
}
