import CSodium

/// libsodium must be initialized once before use: `sodium_init` picks the
/// fastest implementations for this CPU and opens the random source.
public enum Sodium {
    /// Initializes libsodium if that has not happened yet; traps if it cannot
    /// (no usable random source), since a daemon without crypto must not run.
    ///
    /// Every API in this module calls it itself, so calling it from `main`
    /// before threads start is only belt and braces: the lazy global below is
    /// initialized exactly once (swift_once), and `sodium_init` is itself
    /// idempotent and thread-safe.
    public static func ensureInitialized() {
        precondition(sodiumReady, "libsodium could not be initialized (sodium_init failed)")
    }
}

/// `sodium_init` returns 0 on first success, 1 if already initialized, -1 on failure.
private let sodiumReady: Bool = sodium_init() >= 0

/// Calls `body` with a contiguous view of `data`, copying only when the collection is not contiguous.
func withContiguousBytes<R>(_ data: some Collection<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    if let result = data.withContiguousStorageIfAvailable(body) { return result }
    return Array(data).withUnsafeBufferPointer(body)
}
