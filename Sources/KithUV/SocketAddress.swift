import CLibUV
import Glibc

/// An IPv4 or IPv6 socket address held by value, so one type serves bind, connect and peer names.
struct SocketAddress: CustomStringConvertible {
    private var storage = sockaddr_storage()

    /// Parses an IP literal ("127.0.0.1", "::"); anything else is EINVAL.
    init(ip: String, port: UInt16) throws(UVError) {
        let parsed = withUnsafeMutableBytes(of: &storage) { raw in
            ip.contains(":")
                ? uv_ip6_addr(ip, Int32(port), raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self))
                : uv_ip4_addr(ip, Int32(port), raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self))
        }
        try UVError.check(parsed)
    }

    init(copying address: UnsafePointer<sockaddr>, length: Int) {
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: address, count: min(length, raw.count)))
        }
    }

    /// The local or peer name of a TCP handle, via `uv_tcp_getsockname` / `uv_tcp_getpeername`.
    init(
        of tcp: UnsafePointer<uv_tcp_t>,
        _ query: (UnsafePointer<uv_tcp_t>, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<Int32>) -> Int32
    ) throws(UVError) {
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutableBytes(of: &storage) { raw in
            query(tcp, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        try UVError.check(result)
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>) -> R) -> R {
        withUnsafeBytes(of: storage) { body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self)) }
    }

    private var isIPv6: Bool { storage.ss_family == sa_family_t(AF_INET6) }

    var port: UInt16 {
        withUnsafeBytes(of: storage) { raw in
            isIPv6
                ? UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
                : UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
        }
    }

    /// "ip:port", with the IPv6 address in brackets ("[::1]:7946") so `parseHostPort` reads it back.
    var description: String {
        var name = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let named = withSockaddr { uv_ip_name($0, &name, name.count) }
        guard named == 0 else { return "?:\(port)" }
        let ip = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return isIPv6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
