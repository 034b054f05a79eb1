import FuzzSupport
import KithCore
import KithJSON

/// A line from an agent on its socket (any agent may be hostile): the core's answer to its request.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAgent(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    guard let request = FuzzNode.object(data, size), let op = request["op"]?.stringValue else { return 0 }
    var core = FuzzNode.prepared
    let origin = AgentOrigin(agent: FuzzNode.agent, generation: 1, id: request["id"])
    _ = core.handle(.agentRequest(origin, op: op, request: request), now: FuzzNode.now)
    _ = core.handle(.tick, now: FuzzNode.now + .seconds(1))
    return 0
}

/// The executable's entry point (SwiftPM makes `fuzz_agent_main` the program's `main`).
@_cdecl("fuzz_agent_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzAgent)
}
