#if canImport(Glibc)
import Glibc
#endif
import KithJSON
import KithCrypto

/// The operator's side: signs control requests with a key file and a
/// monotonic counter kept beside it.
public struct OperatorSigner: Sendable {
    public let key: SigningKey
    let counterPath: String
    /// The cluster the signed requests are for (`cluster`); nil leaves it to
    /// the caller (`ControlClient` asks the node it talks to).
    public var cluster: String?
    /// How long a signed request stays valid by default (`expires_ms`, wall
    /// clock): long enough for a slow link, short enough that a command a
    /// paused node did not answer is not carried out long after kithctl gave up.
    public static let validity: Int64 = 10_000
    /// The longest validity a request may ask for (`--valid-for`): one day.
    public static let validityMax: Int64 = 86_400_000
    /// How long the requests this signer signs stay valid, in milliseconds.
    public var validityMilliseconds: Int64 = OperatorSigner.validity {
        didSet { assert(validityMilliseconds > 0 && validityMilliseconds <= OperatorSigner.validityMax,
                        "validity must be 1...\(OperatorSigner.validityMax) ms, but was \(validityMilliseconds)") }
    }

    public var publicKeyHex: String { Hex.encode(key.publicKey) }

    /// Loads `path` (hex secret key, as `kithctl keygen` writes it).
    public init(keyPath: String) throws(KeyFileError) {
        let text = try KeyFile.read(keyPath).trimmingSpaces
        guard let bytes = Hex.decode(text), let key = SigningKey(secretKey: bytes) else {
            throw KeyFileError(path: keyPath, action: "use", reason: "not a hex Ed25519 secret key")
        }
        self.key = key
        counterPath = keyPath + ".counter"
    }

    /// Creates a new key at `path` (0600) and its public half at `path.pub`.
    public static func generate(at path: String) throws(KeyFileError) -> OperatorSigner {
        let key = SigningKey.generate()
        try KeyFile.write(Hex.encode(key.secretKey) + "\n", to: path)
        try KeyFile.write(Hex.encode(key.publicKey) + "\n", to: path + ".pub")
        return try OperatorSigner(keyPath: path)
    }

    /// Takes the next counter from the counter file (never reused, even
    /// across runs), under an exclusive lock so that kithctl runs signing at
    /// the same time never take the same counter.
    public func nextCounter() throws(KeyFileError) -> UInt64 {
        try withCounterLock { () throws(KeyFileError) in
            let next = currentCounter() + 1
            try KeyFile.write(String(next) + "\n", to: counterPath)
            return next
        }
    }

    private func currentCounter() -> UInt64 {
        (try? KeyFile.read(counterPath)).flatMap { UInt64($0.trimmingSpaces) } ?? 0
    }

    /// The request with `auth` added; the same signed request may go to every node.
    /// Unless the request names them already, it is signed for `cluster` and
    /// to expire `validityMilliseconds` from now, so a captured request neither works on
    /// another cluster nor later (a paused node refuses it when it wakes).
    public func sign(_ request: JSON, counter: UInt64) -> JSON {
        guard var object = request.objectValue else { return request }
        if object["cluster"] == nil, let cluster { object["cluster"] = .string(cluster) }
        if object["expires_ms"] == nil { object["expires_ms"] = .int(OperatorSigner.wallMilliseconds + validityMilliseconds) }
        var random = SystemRandomNumberGenerator()
        let nonce = Hex.encode((0..<2).flatMap { _ in withUnsafeBytes(of: random.next() as UInt64) { Array($0) } })
        object["auth"] = ["key": .string(publicKeyHex), "counter": .int(Int64(clamping: counter)), "nonce": .string(nonce)]
        let signature = key.sign(OperatorRequest.signedBytes(of: .object(object)))
        var auth = object["auth"]?.objectValue ?? [:]
        auth["sig"] = .string(Hex.encode(signature))
        object["auth"] = .object(auth)
        return .object(object)
    }
}

extension OperatorSigner {
    /// Where the lock that serialises counter updates lives: beside the
    /// counter file, never the counter file itself, which `KeyFile.write`
    /// replaces by rename (a lock on a replaced inode would not exclude a
    /// process that opened the new one).
    var counterLockPath: String { counterPath + ".lock" }

    /// Moves the counter to at least `accepted` (under the lock), so the next
    /// counter is above what a node has already accepted from this key. A
    /// claim beyond 2^40 is refused: a hostile node must not be able to push
    /// the counter to its end and so lock the operator out everywhere.
    public func advanceCounter(past accepted: UInt64) throws(KeyFileError) {
        guard accepted < 1 << 40 else {
            throw KeyFileError(path: counterPath, action: "advance", reason: "a node claims counter \(accepted) was accepted; not believed")
        }
        try withCounterLock { () throws(KeyFileError) in
            if currentCounter() < accepted { try KeyFile.write(String(accepted) + "\n", to: counterPath) }
        }
    }

    private func withCounterLock<T>(_ body: () throws(KeyFileError) -> T) throws(KeyFileError) -> T {
        let fd = open(counterLockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyFileError(path: counterLockPath, action: "open", code: errno, reason: systemError(errno)) }
        defer { close(fd) }  // closing releases the lock
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw KeyFileError(path: counterLockPath, action: "lock", code: errno, reason: systemError(errno)) }
        }
        return try body()
    }
}

extension OperatorSigner {
    /// Wall-clock milliseconds since the epoch: expiry is the one place a clock judges a request.
    public static var wallMilliseconds: Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

private func systemError(_ code: Int32) -> String { String(cString: strerror(code)).lowercased() }

extension String {
    /// Without leading and trailing whitespace (key files end in a newline).
    package var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
