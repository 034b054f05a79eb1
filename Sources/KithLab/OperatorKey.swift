import Foundation
import KithControl

/// The operator's signing key file: where it is, its signer loaded once, and
/// a fresh one written for a lab, a scenario run or the demo.
///
/// Passed explicitly to whatever signs: a scenario run or the demo hands its
/// own throwaway key to the code it calls rather than redirecting a global,
/// and read-only commands never load it, so they work without a key.
package final class OperatorKey {
    package let path: String
    private var loaded: OperatorSigner?
    /// The cluster requests are signed for (global `--cluster`, else `$KITH_CLUSTER`);
    /// nil asks the node kithctl talks to.
    package var cluster: String? = ProcessInfo.processInfo.environment["KITH_CLUSTER"].flatMap { $0.isEmpty ? nil : $0 }

    /// How long signed requests stay valid (global `--valid-for`); nil: `OperatorSigner.validity`.
    package var validityMilliseconds: Int64?

    /// The key at `path`, read when a command first needs it.
    package init(path: String) {
        self.path = path
    }

    /// The global `--key FILE` when given, else `$KITH_OPERATOR_KEY`, else `CONFIG/operator.key`.
    package convenience init(option: String?) {
        if let option { self.init(path: LabRecord.absolute(option)); return }
        if let path = ProcessInfo.processInfo.environment["KITH_OPERATOR_KEY"], !path.isEmpty {
            self.init(path: LabRecord.absolute(path))
            return
        }
        self.init(path: Self.configDirectory + "/operator.key")
    }

    /// `$XDG_CONFIG_HOME/kith`, else `~/.config/kith`: the key and the pinned node keys.
    package static var configDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty { return LabRecord.absolute(xdg) + "/kith" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.config/kith"
    }

    /// The key at `path`; a missing key says how to make one.
    package func signer() throws -> OperatorSigner {
        if let loaded { return loaded }
        do {
            var signer = try OperatorSigner(keyPath: path)
            signer.cluster = cluster
            if let validityMilliseconds { signer.validityMilliseconds = validityMilliseconds }
            loaded = signer
            return signer
        } catch let error where error.isMissing {
            throw Failure("no operator key at \(path): run kithctl keygen")
        } catch {
            throw Failure("\(error)")
        }
    }

    /// The key at `path`, created first if there is none (for `lab up`).
    package func signerCreatingKey() throws -> (signer: OperatorSigner, created: Bool) {
        if FileManager.default.fileExists(atPath: path) { return (try signer(), false) }
        let signer = try Self.generate(at: path).signer()
        loaded = signer
        return (signer, true)
    }

    /// A client of `address` that signs with this key (loaded on first use).
    package func client(address: String, timeoutMilliseconds: Int = 2000) throws -> ControlClient {
        ControlClient(address: address, timeoutMilliseconds: timeoutMilliseconds, signer: try signer())
    }

    /// Writes a new key pair at `path` (and `path.pub`), creating the directory (0700) if needed.
    package static func generate(at path: String) throws -> OperatorKey {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw Failure("cannot create \(directory): \(error.localizedDescription)")
        }
        let key = OperatorKey(path: path)
        do {
            key.loaded = try OperatorSigner.generate(at: path)
        } catch {
            throw Failure("\(error)")
        }
        return key
    }
}
