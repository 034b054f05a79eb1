import Foundation
import KithCore
import KithCrypto
import KithNode

/// The operator's signing key: where it lives, and clients that sign with it.
///
/// Every command that changes something goes through `Operator.client`, so
/// signing is never forgotten: read-only commands (members, status, agents,
/// events) stay unsigned and work without a key; the rest load the key and
/// fail with a clear message when there is none.
enum Operator {
    /// The global `--key FILE` option, set by `Commands` before routing.
    nonisolated(unsafe) static var keyOption: String?
    nonisolated(unsafe) private static var loaded: OperatorSigner?

    /// `$XDG_CONFIG_HOME/kith`, else `~/.config/kith`: the key and the pinned node keys.
    static var configDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty { return LabRecord.absolute(xdg) + "/kith" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.config/kith"
    }

    /// `--key FILE`, else `$KITH_OPERATOR_KEY`, else `CONFIG/operator.key`.
    static var keyPath: String {
        if let keyOption { return LabRecord.absolute(keyOption) }
        if let path = ProcessInfo.processInfo.environment["KITH_OPERATOR_KEY"], !path.isEmpty { return LabRecord.absolute(path) }
        return configDirectory + "/operator.key"
    }

    /// The key at `keyPath`; a missing key says how to make one.
    static func signer() throws -> OperatorSigner {
        if let loaded { return loaded }
        let path = keyPath
        do {
            let signer = try OperatorSigner(keyPath: path)
            loaded = signer
            return signer
        } catch let error where error.isMissing {
            throw Failure("no operator key at \(path): run kithctl keygen")
        } catch {
            throw Failure("\(error)")
        }
    }

    /// The key at `keyPath`, created first if there is none (for `lab up`).
    static func signerCreatingKey() throws -> (signer: OperatorSigner, created: Bool) {
        if FileManager.default.fileExists(atPath: keyPath) { return (try signer(), false) }
        let signer = try generate(at: keyPath)
        loaded = signer
        return (signer, true)
    }

    /// A client of `address` that signs with the operator key (loaded on first use).
    static func client(address: String, timeoutMilliseconds: Int = 2000) throws -> ControlClient {
        ControlClient(address: address, timeoutMilliseconds: timeoutMilliseconds, signer: try signer())
    }

    /// Writes a new key pair at `path` (and `path.pub`), creating the directory (0700) if needed.
    static func generate(at path: String) throws -> OperatorSigner {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw Failure("cannot create \(directory): \(error.localizedDescription)")
        }
        do {
            return try OperatorSigner.generate(at: path)
        } catch {
            throw Failure("\(error)")
        }
    }

    /// `keygen [--force]`: a new operator key at `keyPath`; prints the public key.
    static func keygen(_ arguments: [String]) throws {
        let options = try Arguments(arguments, switches: ["--force"])
        try options.expectPositionals([], command: "keygen")
        let path = keyPath
        if FileManager.default.fileExists(atPath: path) && !options.has("--force") {
            throw Failure("an operator key already exists at \(path); pass --force to replace it"
                          + " (daemons started with the old public key will refuse the new one)")
        }
        // A new key starts its own counter; an old key's counter must not carry over.
        try? FileManager.default.removeItem(atPath: path + ".counter")
        let signer = try generate(at: path)
        printError("Wrote operator key \(path) (mode 0600) and \(path).pub.")
        printError("Start daemons with --operator-key \(signer.publicKeyHex) (or operator_keys in their config).")
        print(signer.publicKeyHex)
    }
}
