
/// The node's own Ed25519 key, kept as hex in `DATA/node.key` (mode 0600),
/// so that what this node signs stays attributable to it across restarts.
public enum NodeIdentity {
    public static let fileName = "node.key"

    /// Reads the key at `path`, or generates and writes one if there is no file.
    ///
    /// A file that exists but does not hold a valid key is an error, never
    /// silently replaced: replacing it would orphan everything signed so far.
    public static func loadOrCreate(path: String) throws(KeyFileError) -> (key: SigningKey, created: Bool) {
        let text: String
        do {
            text = try KeyFile.read(path)
        } catch where error.isMissing {
            let key = SigningKey.generate()
            try KeyFile.write(Hex.encode(key.secretKey) + "\n", to: path)
            return (key, true)
        }
        guard let bytes = Hex.decode(trimmed(text)), let key = SigningKey(secretKey: bytes) else {
            throw KeyFileError(path: path, action: "load", reason: "not a 128-digit hex Ed25519 secret key")
        }
        return (key, false)
    }

    private static func trimmed(_ text: String) -> String {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        let bytes = Array(text.utf8)
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
