import KithCore
import KithCrypto
import XCTest
@testable import KithNode

/// Cluster keys reach kithd from files or the environment, never argv, and reach
/// a running node sealed to its key.
final class SecretsConfigTests: XCTestCase {
    private let keyA = String(repeating: "ab", count: 32)
    private let keyB = String(repeating: "cd", count: 32)

    private func reader(_ files: [String: String]) -> (String) throws -> String {
        { path in
            guard let text = files[path] else { throw ReadError(description: "no such file") }
            return text
        }
    }

    private let base = ["--name", "n1", "--listen", "127.0.0.1:1", "--control", "127.0.0.1:2"]

    func testClusterKeysComeFromAFileNamedByFlagConfigOrEnvironment() throws {
        let files = ["/k": "# cluster keys\n2:\(keyA)\n\n1:\(keyB)\n", "/c.json": #"{"cluster_key_file": "/k"}"#]
        let byFlag = try NodeConfig.parse(arguments: base + ["--cluster-key-file", "/k"], readFile: reader(files))
        XCTAssertEqual(byFlag.clusterKeys, ["2:\(keyA)", "1:\(keyB)"])
        let byFile = try NodeConfig.parse(arguments: base + ["--config", "/c.json"], readFile: reader(files))
        XCTAssertEqual(byFile.clusterKeys, ["2:\(keyA)", "1:\(keyB)"])
        let byEnvironment = try NodeConfig.parse(arguments: base, environment: ["KITH_CLUSTER_KEYS_FILE": "/k"], readFile: reader(files))
        XCTAssertEqual(byEnvironment.clusterKeys, ["2:\(keyA)", "1:\(keyB)"])
        let flagWins = try NodeConfig.parse(arguments: base + ["--cluster-key-file", "/k"],
                                            environment: ["KITH_CLUSTER_KEYS": "3:\(keyB)"], readFile: reader(files))
        XCTAssertEqual(flagWins.clusterKeys, ["2:\(keyA)", "1:\(keyB)"], "flags beat the environment")
    }

    func testTheKeyIsNeverAFlagAndABadFileIsNamedWithoutItsContent() {
        let (_, inArgv) = NodeConfig.check(arguments: base + ["--cluster-key", "1:\(keyA)"], environment: nil, readFile: reader([:]))
        XCTAssertTrue(inArgv.contains { $0.contains("unknown flag '--cluster-key'") }, "\(inArgv)")
        let (_, missing) = NodeConfig.check(arguments: base + ["--cluster-key-file", "/nope"], environment: nil, readFile: reader([:]))
        XCTAssertEqual(missing.count, 1)
        XCTAssertTrue(missing[0].contains("cannot read /nope"), "\(missing)")
        let secret = String(repeating: "ef", count: 31)
        let (_, bad) = NodeConfig.check(arguments: base + ["--cluster-key-file", "/bad"], environment: nil,
                                        readFile: reader(["/bad": "1:\(secret)\n"]))
        XCTAssertEqual(bad.count, 1, "\(bad)")
        XCTAssertFalse(bad[0].contains(secret), "a problem never quotes the key: \(bad[0])")
        let (_, empty) = NodeConfig.check(arguments: base + ["--cluster-key-file", "/empty"], environment: nil,
                                          readFile: reader(["/empty": "# nothing\n"]))
        XCTAssertTrue(empty.first?.contains("holds no keys") ?? false, "\(empty)")
    }

    func testTheInstallRequestCarriesTheKeySealedToTheNodeOnly() throws {
        let node = SigningKey.generate()
        let cluster = try XCTUnwrap(Hex.decode(keyA))
        let request = try XCTUnwrap(SealedKeyInstall.request(id: 7, key: cluster, nodePublicKeyHex: Hex.encode(node.publicKey)))
        let wire = request.serialized()
        XCTAssertFalse(wire.lowercased().contains(keyA), "the key is not on the wire in clear: \(wire)")
        XCTAssertNil(request["key"])
        XCTAssertEqual(request["id"], 7)
        let sealed = try XCTUnwrap(request["sealed_key"]?.stringValue.flatMap(Hex.decode))
        XCTAssertEqual(node.openSealed(sealed), cluster)
        XCTAssertNil(SigningKey.generate().openSealed(sealed), "another node cannot open it")
        XCTAssertNil(SealedKeyInstall.request(id: 7, key: cluster, nodePublicKeyHex: "zz"))
    }

    func testAKeyFileOrStdinHoldsExactlyOneKey() {
        XCTAssertEqual(SealedKeyInstall.parseKey("\(keyA)\n").map(Hex.encode), keyA)
        XCTAssertEqual(SealedKeyInstall.parseKey("# made by kithctl keys generate\n  \(keyA.uppercased())  \n\n").map(Hex.encode), keyA)
        XCTAssertNil(SealedKeyInstall.parseKey(""))
        XCTAssertNil(SealedKeyInstall.parseKey("\(keyA)\n\(keyB)\n"), "two keys: which one?")
        XCTAssertNil(SealedKeyInstall.parseKey(String(keyA.dropLast(2))))
        XCTAssertNil(SealedKeyInstall.parseKey("1:\(keyA)"))
    }
}
