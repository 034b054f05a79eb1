#if canImport(Glibc)
import Glibc
#endif

/// This process's own resource use, for `kithctl status` and benchmarks.
public enum ProcessStats {
    /// Resident set size in bytes, from /proc/self/statm (pages × page size).
    public static var residentBytes: UInt64 {
        let fields = ((try? readWholeFile("/proc/self/statm")) ?? "").split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return 0 }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// User plus system CPU time used so far, in milliseconds.
    public static var cpuMilliseconds: UInt64 {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        let user = UInt64(usage.ru_utime.tv_sec) * 1000 + UInt64(usage.ru_utime.tv_usec) / 1000
        let system = UInt64(usage.ru_stime.tv_sec) * 1000 + UInt64(usage.ru_stime.tv_usec) / 1000
        return user + system
    }

    /// Wall-clock milliseconds since the epoch, for log timestamps and uids only.
    public static var wallMilliseconds: Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Eight bytes from the kernel's random source, for uids and the protocol seed.
    public static func randomUInt64() -> UInt64 {
        var value: UInt64 = 0
        let fd = open("/dev/urandom", O_RDONLY)
        if fd >= 0 {
            _ = withUnsafeMutableBytes(of: &value) { read(fd, $0.baseAddress, 8) }
            close(fd)
        }
        return value ^ (UInt64(truncatingIfNeeded: wallMilliseconds) &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(getpid())
    }
}
