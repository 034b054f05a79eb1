import Foundation
import KithControl
import KithCore
import KithNode
import XCTest

/// A signed operator request is good for one cluster and a short while; and
/// gossip leaves the machine only authenticated, unless the operator opts out.
final class SignedRequestScopeTests: LabTestCase {
    private func refusal(_ request: JSON, to node: String) -> String? {
        do {
            _ = try ControlClient(address: lab.node(node).control).request(request)
            return nil
        } catch let ControlError.rejected(_, message) {
            return message
        } catch {
            return "not a refusal: \(error)"
        }
    }

    func testARequestForAnotherClusterOrPastItsExpiryIsRefused() throws {
        try lab.start(nodes: 1)
        let cluster = try XCTUnwrap(lab.status(of: "n1")?["cluster"]?.stringValue)
        XCTAssertTrue(cluster.hasPrefix("lab-"), "a lab names its cluster: \(cluster)")
        var signer = try lab.operatorSigner()
        XCTAssertEqual(signer.cluster, cluster)

        let expired = signer.sign(["cmd": "heal", "expires_ms": .int(OperatorSigner.wallMilliseconds - 1000)],
                                  counter: try signer.nextCounter())
        XCTAssertTrue(refusal(expired, to: "n1")?.contains("expired") == true, refusal(expired, to: "n1") ?? "obeyed")

        let good = signer.sign(["cmd": "heal"], counter: try signer.nextCounter())
        XCTAssertNotNil(good["expires_ms"]?.intValue)
        signer.cluster = "elsewhere"
        let foreign = signer.sign(["cmd": "heal"], counter: try signer.nextCounter())
        let foreignRefusal = refusal(foreign, to: "n1")
        XCTAssertTrue(foreignRefusal?.contains("signed for cluster 'elsewhere'") == true, foreignRefusal ?? "obeyed")
        XCTAssertNil(refusal(good, to: "n1"), "the request for this cluster, in time, is obeyed")

        // kithctl learns the cluster from the node, or takes --cluster.
        XCTAssertEqual(try lab.kithctl(on: "n1", ["heal"]).status, 0)
        let wrong = try lab.kithctl(on: "n1", ["--cluster", "elsewhere", "heal"])
        XCTAssertNotEqual(wrong.status, 0, "a heal signed for another cluster was obeyed")
        let refusals = lab.events("command_refused", on: ["n1"]).compactMap { $0.record["reason"]?.stringValue }
        XCTAssertTrue(refusals.contains { $0.contains("signed for cluster 'elsewhere'") }, "\(refusals)")
        XCTAssertTrue(refusals.contains { $0.hasPrefix("expired") }, "\(refusals)")
    }

    func testGossipOffLoopbackNeedsAClusterKeyUnlessInsecure() throws {
        let exposed = ["--name", "n1", "--listen", "0.0.0.0:7946", "--advertise", "10.1.2.3:7946", "--control", "127.0.0.1:7400"]
        let noFile: (String) throws -> String = { _ in "" }
        XCTAssertThrowsError(try NodeConfig.parse(arguments: exposed, environment: nil, readFile: noFile)) { error in
            XCTAssertTrue("\(error)".contains("needs a cluster key"), "\(error)")
        }
        let insecure = try NodeConfig.parse(arguments: exposed + ["--insecure"], environment: nil, readFile: noFile)
        XCTAssertTrue(insecure.insecure)
        let keyFile: (String) throws -> String = { _ in "1:" + String(repeating: "ab", count: 32) + "\n" }
        let keyed = try NodeConfig.parse(arguments: exposed + ["--cluster-key-file", "/keys"],
                                         environment: nil, readFile: keyFile)
        XCTAssertFalse(keyed.insecure)
        let loopback = try NodeConfig.parse(arguments: ["--name", "n1", "--listen", "127.0.0.1:7946", "--control", "127.0.0.1:7400"],
                                            environment: nil, readFile: noFile)
        XCTAssertFalse(loopback.insecure)
    }
}
