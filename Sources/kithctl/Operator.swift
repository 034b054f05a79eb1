import Foundation
import KithLab

/// `keygen`: the operator's signing key. Every command that changes something
/// signs with the `OperatorKey` that `Commands` builds from `--key` and hands
/// it; read-only commands (members, status, agents, events) never load it.
enum Operator {
    /// `keygen [--force]`: a new operator key at `key.path`; prints the public key.
    static func keygen(_ arguments: [String], key: OperatorKey) throws {
        let options = try Arguments(arguments, switches: ["--force"])
        try options.expectPositionals([], command: "keygen")
        let path = key.path
        if FileManager.default.fileExists(atPath: path) && !options.has("--force") {
            throw Failure("an operator key already exists at \(path); pass --force to replace it"
                          + " (daemons started with the old public key will refuse the new one)")
        }
        // A new key starts its own counter; an old key's counter must not carry over.
        try? FileManager.default.removeItem(atPath: path + ".counter")
        let signer = try OperatorKey.generate(at: path).signer()
        printError("Wrote operator key \(path) (mode 0600) and \(path).pub.")
        printError("Start daemons with --operator-key \(signer.publicKeyHex) (or operator_keys in their config).")
        print(signer.publicKeyHex)
    }
}
