import CFuzzer
import KithCore
import KithJSON

/// A node for fuzz input: one peer alive, one agent of its own running, invariants checked after every
/// input. Built once per process and copied per input, so every input meets the same starting state.
public enum FuzzNode {
    public static let agent = "fuzz-a1"
    public static let now = Instant(nanoseconds: 5_000_000_000)

    public static let prepared: NodeCore = {
        var settings = NodeCore.Settings()
        settings.checksInvariants = true
        var core = NodeCore(me: NodeID(name: "n1", uid: 1), meta: NodeMeta(endpoint: "n1:7946"), settings: settings,
                            authorizer: TagAuthorizer(), randomSeed: 7, tombstones: [], now: now)
        _ = core.handle(.start, now: now)
        let peer = MemberState(id: NodeID(name: "n2", uid: 2), meta: NodeMeta(endpoint: "n2:7946"), status: .alive, incarnation: 0)
        _ = core.handle(.receive(.pushPull(from: peer.id, replyTo: "n2:7946", isReply: true, isJoin: false, states: [peer])), now: now)
        let spec = AgentSpec(name: agent, command: "/bin/agent", protects: ["fuzz-a2"])
        let out = core.handle(.operatorCommand(.agentStart(spec, on: "n1"), target: nil, issuer: "fuzz", counter: 1), now: now)
        for case let .spawn(record, _) in out {
            _ = core.handle(.agentSpawned(record.name, generation: record.generation, pid: 100), now: now)
            _ = core.handle(.agentConnected(record.name, generation: record.generation), now: now)
        }
        return core
    }()

    /// The bytes as a JSON object, nil when they are not one (the parser must not trap either way).
    public static func object(_ data: UnsafePointer<UInt8>, _ size: Int) -> JSON? {
        guard let json = try? JSON.parse(bytes: UnsafeBufferPointer(start: data, count: size)), json.objectValue != nil else { return nil }
        return json
    }
}

/// Starts libFuzzer on `callback` from a fuzzer's entry point (see CFuzzer.h).
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                      _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, callback)
}
