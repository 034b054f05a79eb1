import CSodium

extension ClusterKey {
    /// The 32-byte MAC of `parts` concatenated, without copying them into one buffer: a frame's
    /// session context, header and payload (up to 4 MiB) are authenticated in place.
    public func mac(parts: [ArraySlice<UInt8>]) -> [UInt8] {
        Sodium.ensureInitialized()
        var state = crypto_auth_hmacsha512256_state()
        _ = crypto_auth_hmacsha512256_init(&state, bytes, bytes.count)
        for part in parts {
            part.withUnsafeBufferPointer { input in
                _ = crypto_auth_hmacsha512256_update(&state, input.baseAddress, UInt64(input.count))
            }
        }
        var out = [UInt8](repeating: 0, count: Self.macSize)
        _ = crypto_auth_hmacsha512256_final(&state, &out)
        return out
    }
}

/// Constant-time equality of two byte strings of the same length (false for different lengths),
/// so a forger learns nothing from how long a comparison takes.
func constantTimeEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    guard !a.isEmpty else { return true }
    return withContiguousBytes(a) { x in
        withContiguousBytes(b) { y in sodium_memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
    }
}
