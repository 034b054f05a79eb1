import FuzzSupport
import KithCore

/// A frame payload from a peer: whatever decodes must encode (within every limit the decoder
/// enforces, which the encoder asserts) and decode to the same message, and the core must take it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let message = try? WireCodec.decode(bytes) else { return 0 }
    let again = try? WireCodec.decode(WireCodec.encode(message))
    precondition(again == message, "a decoded message did not survive encode and decode: \(message)")
    var core = FuzzNode.prepared
    _ = core.handle(.receive(message), now: FuzzNode.now)
    _ = core.handle(.tick, now: FuzzNode.now + .seconds(1))
    return 0
}

/// The executable's entry point (SwiftPM makes `fuzz_wire_main` the program's `main`).
@_cdecl("fuzz_wire_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzWire)
}
