import Dispatch
import Foundation
import KithCore
import KithNode
import Synchronization

/// One member of the cluster as a node's table lists it.
struct FleetMember: Sendable {
    var name: String
    var control: String
    var state: String

    /// Whether the cluster still counts it: a dead or departed node not answering is expected.
    var isLive: Bool { state == "alive" || state == "suspect" }
}

/// What one node answered to a fanned-out request.
struct FleetOutcome: Sendable {
    var member: FleetMember
    var result: Result<JSON, ControlError>

    var reply: JSON? { if case .success(let reply) = result { reply } else { nil } }

    /// The node answered and refused (as opposed to not answering at all).
    var refusal: String? {
        if case .failure(.rejected(_, let message)) = result { message } else { nil }
    }

    /// The node could not be asked: unreachable, timed out, a bad reply, or the request could not be signed.
    var unreachable: String? {
        guard case .failure(let error) = result else { return nil }
        if case .rejected = error { return nil }
        return error.description
    }

    /// One line for people: "n1: ok" / "n2: refused: ..." / "n3: no answer: ...".
    func line(ok: String = "ok") -> String {
        switch result {
        case .success: return "\(member.name): \(ok)"
        case .failure(.rejected(_, let message)): return "\(member.name): refused: \(message)"
        case .failure(let error): return "\(member.name): no answer (\(member.state)): \(error)"
        }
    }

    var json: JSON {
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
enum Fleet {
    /// Every member `address` lists, newest boot per name, sorted by name.
    static func members(at address: String, timeoutMilliseconds: Int = 2000) throws -> [FleetMember] {
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
        return newest.values.map(\.member).sorted { Self.order($0.name, $1.name) }
    }

    /// The cluster as `node` sees it. Without an explicit `--node`, a lab's
    /// other nodes are tried in turn when the first does not answer (it may be
    /// the node the operator just killed).
    static func discover(_ node: String?) throws -> [FleetMember] {
        let first = node ?? NodeCommands.defaultNode()
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
    static func member(_ name: String, in members: [FleetMember]) throws -> FleetMember {
        guard let member = members.first(where: { $0.name == name }) else {
            throw Failure("the cluster has no node '\(name)' (it has \(members.map(\.name).joined(separator: ", ")))")
        }
        return member
    }

    /// Sends each request to its member, all at once, and returns the
    /// outcomes in the order given. A request without `auth` that needs one is
    /// signed per node (a fresh counter each) and names that node as its
    /// `target`; one that carries `auth` is sent as is.
    static func send(_ requests: [(FleetMember, JSON)], signer: OperatorSigner?,
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
    static func targeted(_ request: JSON, at node: String) -> JSON {
        guard case .object(var object) = request, object["auth"] == nil, object["target"] == nil,
              ControlClient.needsSignature(request) else { return request }
        object["target"] = .string(node)
        return .object(object)
    }

    /// The same request to every member.
    static func broadcast(_ request: JSON, to members: [FleetMember], signer: OperatorSigner?,
                          timeoutMilliseconds: Int = 3000) -> [FleetOutcome] {
        send(members.map { ($0, request) }, signer: signer, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// n2 before n10: names compared by their text, with digit runs compared as numbers.
    static func order(_ a: String, _ b: String) -> Bool {
        func key(_ name: String) -> [(String, Int)] {
            var parts: [(String, Int)] = []
            var text = ""
            var digits = ""
            for character in name {
                if character.isASCII && character.isNumber {
                    digits.append(character)
                } else {
                    if !digits.isEmpty { parts.append((text, Int(digits) ?? 0)); text = ""; digits = "" }
                    text.append(character)
                }
            }
            parts.append((text, Int(digits) ?? -1))
            return parts
        }
        let (ka, kb) = (key(a), key(b))
        for (x, y) in zip(ka, kb) where x != y {
            return x.0 != y.0 ? x.0 < y.0 : x.1 < y.1
        }
        return ka.count != kb.count ? ka.count < kb.count : a < b
    }
}

/// Prints fan-out outcomes (or their JSON) and fails when the command did not
/// take everywhere it had to.
enum FanOutReport {
    /// `requireLive`: a live member (alive or suspect) that did not answer is a
    /// failure too; a dead or departed one not answering is only reported.
    static func finish(_ outcomes: [FleetOutcome], json: Bool, what: String, ok: String = "ok",
                       requireLive: Bool = true) throws {
        if json {
            print(JSON.array(outcomes.map(\.json)).serialized(pretty: true))
        } else {
            for outcome in outcomes { print(outcome.line(ok: ok)) }
        }
        let refused = outcomes.filter { $0.refusal != nil }.map(\.member.name)
        let silent = outcomes.filter { $0.unreachable != nil && $0.member.isLive }.map(\.member.name)
        var problems: [String] = []
        if !refused.isEmpty { problems.append("refused by \(refused.joined(separator: ", "))") }
        if requireLive && !silent.isEmpty { problems.append("no answer from \(silent.joined(separator: ", "))") }
        if !problems.isEmpty { throw Failure("\(what): " + problems.joined(separator: "; ")) }
    }
}
