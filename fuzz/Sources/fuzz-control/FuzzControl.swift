import FuzzSupport
import KithCore
import KithJSON

/// A control request line (as a signed request's body, after the signature checked out): parsed
/// into a command, which the core then carries out against a node with a peer and an agent.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControl(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    guard let request = FuzzNode.object(data, size), let cmd = request["cmd"]?.stringValue else { return 0 }
    let command = OperatorCommand.parse(cmd, request) { json in
        guard let name = json["name"]?.stringValue, let command = json["command"]?.stringValue else {
            return .failure(AgentError("spec needs name and command"))
        }
        return .success(AgentSpec(name: name, command: command))
    }
    var core = FuzzNode.prepared
    _ = core.handle(.operatorCommand(command, target: request["target"]?.stringValue, issuer: "fuzz", counter: 2), now: FuzzNode.now)
    _ = core.handle(.tick, now: FuzzNode.now + .seconds(1))
    return 0
}

/// The executable's entry point (SwiftPM makes `fuzz_control_main` the program's `main`).
@_cdecl("fuzz_control_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzControl)
}
