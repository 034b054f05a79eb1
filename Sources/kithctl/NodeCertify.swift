import Foundation
import KithControl
import KithCrypto
import KithLab

/// `node certify`: the operator's certificate binding a node's name to its
/// key (`NodeCertificate`), for deployments that are not labs (a lab
/// certifies its nodes itself). The node then proves who it is to the
/// others: nobody else can say it left or sign its checkpoints.
enum NodeCertify {
    /// `node certify [NAME --key HEX [--cluster NAME]] [--out FILE]`: without
    /// NAME, asks the node at `--node` for its name, key and cluster
    /// (read-only `status`); with them, certifies offline. Writes FILE
    /// (default `NAME.cert`), mode 0600.
    static func run(_ arguments: [String], node: String?, key: OperatorKey) throws {
        guard arguments.first == "certify" else { throw Failure("usage: kithctl node certify [NAME --key HEX [--cluster NAME]] [--out FILE]") }
        let options = try Arguments(Array(arguments.dropFirst()), options: ["--key", "--cluster", "--out"])
        let name: String
        let cluster: String
        let publicKeyHex: String
        if let hex = options.value("--key") {
            try options.expectPositionals(["NAME"], command: "node certify")
            name = options.positionals[0]
            cluster = options.value("--cluster") ?? ""
            publicKeyHex = hex
        } else {
            try options.expectPositionals([], command: "node certify")
            let address = node ?? Fleet.defaultNode()
            let status = try ControlClient(address: address).request(["cmd": "status"])
            guard let asked = status["name"]?.stringValue, let hex = status["public_key"]?.stringValue else {
                throw Failure("the node at \(address) sent no name or public key")
            }
            name = asked
            cluster = status["cluster"]?.stringValue ?? ""
            publicKeyHex = hex
        }
        guard let publicKey = Hex.decode(publicKeyHex), publicKey.count == 32 else {
            throw Failure("the node key must be 64 hex digits (the node's status shows public_key)")
        }
        let certificate = NodeCertificate.issue(cluster: cluster, node: name, key: publicKey, by: try key.signer().key)
        let path = options.value("--out") ?? "\(name).cert"
        try KeyFile.write(certificate.fileText, to: path)
        printError("Wrote \(path): node \(name) of cluster '\(cluster)' has key \(publicKeyHex.prefix(12))…")
        printError("Install it on that node and start kithd with --node-cert FILE (config node_cert).")
    }
}
