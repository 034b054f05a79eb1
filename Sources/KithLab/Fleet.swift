import Dispatch
import Foundation
import KithControl
import KithCore
import KithReport
import Synchronization

/// One member of the cluster as a node's table lists it.
package struct FleetMember: Sendable {
    package var name: String
    package var control: String
    package var state: String

    /// Whether the cluster still counts it: a dead or departed node not answering is expected.
    package var isLive: Bool { state == "alive" || state == "suspect" }
}

/// What one node answered to a fanned-out request.
package struct FleetOutcome: Sendable {
    package var member: FleetMember
    package var result: Result<JSON, ControlError>

    package var reply: JSON? { if case .success(let reply) = result { reply } else { nil } }

    /// The node answered and refused (as opposed to not answering at all).
    package var refusal: String? {
        if case .failure(.rejected(_, let message)) = result { message } else { nil }
    }

    /// Nothing listens at the node's control address (the connection was refused or failed): its daemon is
    /// gone, unlike a frozen one, whose kernel still accepts the connection and then never answers.
    package var isGone: Bool {
        if case .failure(.unreachable) = result { true } else { false }
    }

    /// The node could not be asked: unreachable, timed out, a bad reply, or the request could not be signed.
    package var unreachable: String? {
        guard case .failure(let error) = result else { return nil }
        if case .rejected = error { return nil }
        return error.description
    }

    /// One line for people: "n1: ok" / "n2: refused: ..." / "n3: no answer: ...".
    package func line(ok: String = "ok") -> String {
        switch result {
        case .success: return "\(member.name): \(ok)"
        case .failure(.rejected(_, let message)): return "\(member.name): refused: \(message)"
        case .failure(let error): return "\(member.name): no answer (\(member.state)): \(error)"
        }
    }

    package var json: JSON {
        var entry: [String: JSON] = ["node": .string(member.name), "control": .string(member.control),
                                     "member_state": .string(member.state)]
        switch result {
        case .success(let reply):
            entry["ok"] = true
            entry["reply"] = reply
        case .failure(.rejected(_, let message)):
            entry["ok"] = false
            entry["refused"] = .string(message)
        case .failure(let error):
            entry["ok"] = false
            entry["unreachable"] = .string(error.description)
        }
        return .object(entry)
    }
}

/// The cluster as a whole: discovered from one node's membership table, then
/// addressed node by node through each member's control address.
package enum Fleet {
    /// How long a fanned-out request waits for each node.
    package static let fanOutTimeout = 3000

    /// `$KITH_NODE`, else the default lab's first node, else the conventional local port.
    package static func defaultNode() -> String {
        if let node = ProcessInfo.processInfo.environment["KITH_NODE"], !node.isEmpty { return node }
        if let record = try? LabRecord.load(from: LabRecord.defaultDirectory()), let first = record.nodes.first {
            return first.control
        }
        return "127.0.0.1:7400"
    }

    /// Every member `address` lists, newest boot per name, sorted by name.
    package static func members(at address: String, timeoutMilliseconds: Int = 2000) throws -> [FleetMember] {
        let reply = try ControlClient(address: address, timeoutMilliseconds: timeoutMilliseconds).request(["cmd": "members"])
        guard let members = reply["members"]?.arrayValue else { throw Failure("node at \(address) sent no members list") }
        var newest: [String: (uid: UInt64, member: FleetMember)] = [:]
        for member in members {
            guard let name = member["name"]?.stringValue, let control = member["control"]?.stringValue,
                  let state = member["state"]?.stringValue else { continue }
            let uid = member["uid"]?.stringValue.flatMap { UInt64($0, radix: 16) } ?? 0
            if newest[name].map({ $0.uid <= uid }) ?? true {
                newest[name] = (uid, FleetMember(name: name, control: control, state: state))
            }
        }
        return newest.values.map(\.member).sorted { NodeNames.order($0.name, $1.name) }
    }

    /// The cluster as `node` sees it. Without an explicit `--node`, a lab's
    /// other nodes are tried in turn when the first does not answer (it may be
    /// the node the operator just killed).
    package static func discover(_ node: String?) throws -> [FleetMember] {
        let first = node ?? defaultNode()
        do {
            return try members(at: first)
        } catch let error as ControlError {
            guard node == nil, let record = try? LabRecord.load(from: LabRecord.defaultDirectory()) else { throw error }
            for other in record.nodes where other.control != first {
                if let found = try? members(at: other.control, timeoutMilliseconds: 1000) { return found }
            }
            throw Failure("\(error); no other node of the lab in \(LabRecord.defaultDirectory()) answered either")
        }
    }

    /// The member called `name`, or a failure naming those there are.
    package static func member(_ name: String, in members: [FleetMember]) throws -> FleetMember {
        guard let member = members.first(where: { $0.name == name }) else {
            throw Failure("the cluster has no node '\(name)' (it has \(members.map(\.name).joined(separator: ", ")))")
        }
        return member
    }

    /// Sends each request to its member, all at once, and returns the
    /// outcomes in the order given. A request without `auth` that needs one is
    /// signed per node (a fresh counter each) and names that node as its
    /// `target`; one that carries `auth` is sent as is.
    package static func send(_ requests: [(FleetMember, JSON)], signer: OperatorSigner?,
                     timeoutMilliseconds: Int = 3000) -> [FleetOutcome] {
        let results = Mutex<[Int: FleetOutcome]>([:])
        DispatchQueue.concurrentPerform(iterations: requests.count) { index in
            let (member, given) = requests[index]
            let request = signer == nil ? given : targeted(given, at: member.name)
            let client = ControlClient(address: member.control, timeoutMilliseconds: timeoutMilliseconds, signer: signer)
            let result = Result { () throws(ControlError) in try client.request(request) }
            results.withLock { $0[index] = FleetOutcome(member: member, result: result) }
        }
        return results.withLock { all in requests.indices.compactMap { all[$0] } }
    }

    /// `request` naming the node it is meant for, so that once signed it is
    /// not a command another node would obey (a captured "kill_node" for n3
    /// replayed to n1, whose last counter from this key may be lower).
    /// Requests already signed, or that already name a target, are left alone.
    package static func targeted(_ request: JSON, at node: String) -> JSON {
        guard case .object(var object) = request, object["auth"] == nil, object["target"] == nil,
              ControlClient.needsSignature(request) else { return request }
        object["target"] = .string(node)
        return .object(object)
    }

    /// The same request to every member.
    package static func broadcast(_ request: JSON, to members: [FleetMember], signer: OperatorSigner?,
                          timeoutMilliseconds: Int = 3000) -> [FleetOutcome] {
        send(members.map { ($0, request) }, signer: signer, timeoutMilliseconds: timeoutMilliseconds)
    }

}
