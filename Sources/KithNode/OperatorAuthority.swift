import KithControl
import KithCore
import KithCrypto

/// Lifecycle authority: which operator commands this node obeys.
///
/// A command that changes anything carries `auth`: the operator's public
/// key, a counter and a nonce, and an Ed25519 signature over the canonical
/// form of the whole request (sorted keys, compact) with `auth.sig` left
/// out. The node obeys only trusted keys, only a counter above the last one
/// it accepted from that key (the counters persist in the data dir so a
/// restart does not reopen old commands), only a request naming this node's
/// cluster, and only before its `expires_ms` (wall clock: a coarse bound, 10 s
/// by default, so a clock skewed further in an experiment needs a longer
/// validity; replay within it is still judged by the counter).
struct OperatorAuthority {
    /// Hex public keys of operators this node obeys.
    let trusted: Set<String>
    private(set) var lastCounter: [String: UInt64] = [:]
    private let statePath: String

    /// Commands that only read may be unsigned; everything else must be signed.
    static let readOnly = OperatorRequest.readOnlyCommands

    /// The cluster this node belongs to: requests must name it.
    let cluster: String

    init(trusted: [String], dataDir: String, cluster: String = "") {
        self.trusted = Set(trusted.map { $0.lowercased() })
        self.cluster = cluster
        statePath = dataDir + "/operator-counters.json"
        if let text = try? readWholeFile(statePath), let object = (try? JSON.parse(text))?.objectValue {
            for (key, value) in object { if let n = value.intValue, n >= 0 { lastCounter[key] = UInt64(n) } }
        }
    }

    /// The accepted signer's key and counter, or why the command is refused.
    mutating func admit(_ request: JSON) -> Result<(key: String, counter: UInt64), AuthorityError> {
        guard let auth = request["auth"]?.objectValue else { return .failure(.init("unsigned command")) }
        guard let key = auth["key"]?.stringValue?.lowercased(), let counter = auth["counter"]?.intValue, counter > 0,
              let nonce = auth["nonce"]?.stringValue, !nonce.isEmpty,
              let signatureHex = auth["sig"]?.stringValue, let signature = Hex.decode(signatureHex),
              let publicKey = Hex.decode(key) else {
            return .failure(.init("malformed auth: needs key, counter > 0, nonce and sig"))
        }
        guard trusted.contains(key) else {
            return .failure(.init(trusted.isEmpty ? "this node trusts no operator key (start it with --operator-key)"
                                                  : "operator key \(key.prefix(12))… is not trusted here"))
        }
        guard Ed25519.verify(signature: signature, message: OperatorRequest.signedBytes(of: request),
                             publicKey: publicKey) else {
            return .failure(.init("bad signature"))
        }
        if let problem = SignedRequestAuthorizer.clusterProblem(request, cluster: cluster) { return .failure(.init(problem)) }
        guard let expires = request["expires_ms"]?.intValue else { return .failure(.init("signed request without expires_ms")) }
        let now = ProcessStats.wallMilliseconds
        guard now <= expires else { return .failure(.init("expired: expires_ms \(expires) is \(now - expires) ms ago")) }
        let last = lastCounter[key] ?? 0
        guard UInt64(counter) > last else {
            return .failure(.init("replayed command: counter \(counter) is not above \(last)"))
        }
        lastCounter[key] = UInt64(counter)
        persist()
        return .success((key, UInt64(counter)))
    }

    private func persist() {
        let json = JSON.object(lastCounter.mapValues { .int(Int64(clamping: $0)) })
        try? KeyFile.write(json.serialized() + "\n", to: statePath)
    }
}

/// Why an operator command was refused.
struct AuthorityError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The daemon's `AgentAuthorizer`: a proof holds when a trusted operator key
/// signed its bytes (Ed25519) and those bytes are a control request for this
/// cluster whose command grants something to the agent layer. Expiry is not
/// checked here: a signed spec must still relaunch its agent weeks later;
/// the control port checks expiry when the request first arrives.
struct SignedRequestAuthorizer: AgentAuthorizer {
    /// Hex public keys (lower case) of the operators this node obeys.
    let trusted: Set<String>
    /// The cluster this node belongs to; a request signed for another is refused.
    let cluster: String

    init(trusted: [String], cluster: String) {
        self.trusted = Set(trusted.map { $0.lowercased() })
        self.cluster = cluster
    }

    func grant(of proof: OperatorProof) -> Result<OperatorGrant, AgentError> {
        let key = Hex.encode(proof.key)
        guard trusted.contains(key) else { return .failure(AgentError("operator key \(key.prefix(12))… is not trusted here")) }
        guard Ed25519.verify(signature: proof.signature, message: proof.signed, publicKey: proof.key) else {
            return .failure(AgentError("bad operator signature"))
        }
        guard let request = try? JSON.parse(String(decoding: proof.signed, as: UTF8.self)),
              let cmd = request["cmd"]?.stringValue, request["auth"]?["key"]?.stringValue?.lowercased() == key else {
            return .failure(AgentError("the signed bytes are no control request of that key"))
        }
        if let problem = SignedRequestAuthorizer.clusterProblem(request, cluster: cluster) { return .failure(AgentError(problem)) }
        let command = OperatorCommand.parse(cmd, request) { json in
            do throws(ConfigError) { return .success(try AgentSpec(config: json)) } catch { return .failure(AgentError(error.message)) }
        }
        switch command {
        case .agentStart(let spec, _): return .success(.start(spec))
        case let .killSwitch(agents, epoch, _): return .success(.killSwitch(agents: agents, epoch: epoch))
        case let .revive(agents, epoch, _): return .success(.revive(agents: agents, epoch: epoch))
        case let .quarantine(agents, epoch, _): return .success(.quarantine(agents: agents, epoch: epoch))
        case let .release(agents, epoch): return .success(.release(agents: agents, epoch: epoch))
        case .agentStop(let name): return .success(.stop(agent: name))
        default: return .failure(AgentError("the signed request (\(cmd)) grants nothing to agents"))
        }
    }

    /// Only an operator's key makes proofs.
    func mint(_ grant: OperatorGrant) -> OperatorProof? { nil }

    /// Nil when `request` names `cluster` (or neither names one), else why not.
    static func clusterProblem(_ request: JSON, cluster: String) -> String? {
        let named = request["cluster"]?.stringValue ?? ""
        return named == cluster ? nil : "signed for cluster '\(named)', this is '\(cluster)'"
    }
}

extension OperatorProof {
    /// The proof a signed control request carries: its key, signature and
    /// exact signed bytes; nil when it has no well-formed `auth`.
    init?(request: JSON) {
        guard let auth = request["auth"]?.objectValue, let key = auth["key"]?.stringValue.flatMap(Hex.decode),
              let signature = auth["sig"]?.stringValue.flatMap(Hex.decode) else { return nil }
        self.init(key: key, signature: signature, signed: OperatorRequest.signedBytes(of: request))
    }
}
