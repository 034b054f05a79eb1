import Foundation
import Glibc

/// How many loopback daemons this machine can hold, from the resources that
/// actually run out, so `lab up` and `bench membership` refuse a size with
/// the reason instead of failing halfway: the connection cap of kithd for
/// one address (every lab peer is 127.0.0.1), open files, and memory.
package enum LabCapacity {
    /// What `--nodes` accepts at all; `reserve` then says what this machine holds.
    package static let nodesMax = 10_000
    /// kithd's `GossipTransport.inboundConnectionsPerAddressMax`: on loopback
    /// each daemon accepts two connections (membership and agent lanes) from
    /// each peer, all from 127.0.0.1.
    package static let inboundPerAddressMax = 512
    /// Open files a daemon needs: two lanes to and from each peer, plus its
    /// listeners, log, data files and agents' pipes.
    package static func filesPerDaemon(count: Int) -> Int { 4 * (count - 1) + 64 }
    /// Memory planned per daemon: the 20 MB RSS target of issue 16.
    package static let megabytesPerDaemon = 20

    /// Checks that `count` loopback daemons fit, raising this process's soft
    /// open-files limit (which the daemons inherit) toward the hard one when
    /// they need more; throws naming the resource that is short.
    package static func reserve(count: Int) throws {
        let inbound = 2 * (count - 1)
        guard inbound <= inboundPerAddressMax else {
            throw Failure("\(count) loopback daemons need \(inbound) inbound connections each from 127.0.0.1, but kithd accepts "
                          + "at most \(inboundPerAddressMax) from one address: at most \(inboundPerAddressMax / 2 + 1) nodes")
        }
        // kithctl itself holds three probe sockets per node while it picks ports.
        let files = max(filesPerDaemon(count: count), 3 * count + 64)
        try raiseOpenFiles(to: files, count: count)
        if let available = availableMegabytes(), count * megabytesPerDaemon > available {
            throw Failure("\(count) daemons need about \(count * megabytesPerDaemon) MB (\(megabytesPerDaemon) MB each) "
                          + "but only \(available) MB of memory is available (MemAvailable in /proc/meminfo)")
        }
    }

    private static func raiseOpenFiles(to needed: Int, count: Int) throws {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        guard limit.rlim_cur < rlim_t(needed) else { return }
        guard limit.rlim_max >= rlim_t(needed) else {
            throw Failure("\(count) daemons need about \(needed) open files each (4 per peer), but the hard limit is "
                          + "\(limit.rlim_max) (ulimit -Hn): raise it or start fewer nodes")
        }
        limit.rlim_cur = rlim_t(needed)
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            throw Failure("cannot raise the open-files limit to \(needed): \(String(cString: strerror(errno)))")
        }
    }

    /// MemAvailable from /proc/meminfo, in MB (nil where there is none).
    private static func availableMegabytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kilobytes / 1024
    }
}
