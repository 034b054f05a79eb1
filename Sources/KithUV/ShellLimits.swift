/// The libuv shell's default sizes and times, named in one place with the reason for each value.
/// Callers with their own reasons (the gossip transport, the control server) pass their own.
public enum ShellLimits {
    /// Bytes read per uv_read callback: large enough that a 4 MiB frame takes 64 reads, small enough
    /// that a thousand idle connections cost 64 MiB of address space and little resident memory.
    public static let readBufferBytes = 64 << 10
    /// Unwritten bytes a connection may queue by default: one maximal gossip frame.
    public static let queuedBytesDefault = 4 << 20
    /// Unwritten bytes a Unix listener's connections may queue by default: local peers read fast; 1 MiB
    /// holds many messages and bounds what a stalled agent costs.
    public static let unixQueuedBytesDefault = 1 << 20
    /// A batch buffer this size or smaller is kept between flushes (no reallocation on the hot path);
    /// a larger one, from a burst, is released.
    public static let batchBytesKeptMax = 64 << 10
    /// TCP keepalive starts probing after this much silence: a peer host that vanished without a FIN
    /// is noticed by the kernel within about a minute even when nothing is being sent.
    public static let keepAliveDelaySeconds: UInt32 = 30
    /// Whole TCP connect attempts (every address of a name) give up after this by default.
    public static let connectTimeoutMillisecondsDefault: UInt64 = 2000
    /// Pending accepts for TCP listeners: libuv's own default (SOMAXCONN's traditional value), so a
    /// burst of peers reconnecting at once is not refused by the kernel.
    public static let tcpBacklogDefault: Int32 = 511
    /// Pending accepts for Unix listeners: agents of one node connect a few at a time.
    public static let unixBacklogDefault: Int32 = 128
}
