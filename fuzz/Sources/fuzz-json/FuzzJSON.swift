import FuzzSupport
import KithJSON

/// Any bytes: the parser returns a value or an error, never traps; a value serializes to text that
/// parses back to the same value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    guard let value = try? JSON.parse(bytes: UnsafeBufferPointer(start: data, count: size)) else { return 0 }
    let again = try? JSON.parse(value.serialized())
    precondition(again == value, "a parsed value did not survive serialize and parse")
    return 0
}

/// The executable's entry point (SwiftPM makes `fuzz_json_main` the program's `main`).
@_cdecl("fuzz_json_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzJSON)
}
