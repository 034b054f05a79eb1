import Foundation
import Glibc

/// Finding the programs kithctl starts or asks a daemon to start.
package enum Executables {
    /// The directory kithctl runs from, where `swift build` also puts kithd and kith-agent.
    package static var ownDirectory: String {
        URL(fileURLWithPath: Processes.ownExecutable()).deletingLastPathComponent().path
    }

    /// An agent's command as the daemon should run it. The daemon has its own
    /// working directory and environment, so a bare name (`kith-agent`) is looked
    /// up here, next to kithctl first and then on `$PATH`, and a relative path
    /// is made absolute. An absolute path is passed on unchecked: the daemon
    /// may run on another machine.
    package static func resolveCommand(_ command: String) throws -> String {
        if command.hasPrefix("/") { return command }
        if command.contains("/") { return LabRecord.absolute(command) }
        if let found = find(command) { return found }
        throw Failure("cannot find '\(command)' next to kithctl or on $PATH; give a path to it")
    }

    /// The reference agent: `explicit`, else `kith-agent` next to kithctl, else on `$PATH`.
    package static func kithAgent(_ explicit: String?) throws -> String {
        if let explicit {
            guard access(explicit, X_OK) == 0 else { throw Failure("\(explicit) is not an executable file") }
            return LabRecord.absolute(explicit)
        }
        guard let found = find("kith-agent") else {
            throw Failure("cannot find kith-agent next to kithctl or on $PATH; pass --kith-agent PATH")
        }
        return found
    }

    /// `name` next to kithctl, else in the first `$PATH` directory that has it as an executable file.
    private static func find(_ name: String) -> String? {
        let candidates = [ownDirectory] + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in candidates where !directory.isEmpty {
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            if access(path, X_OK) == 0, FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                return LabRecord.absolute(path)
            }
        }
        return nil
    }
}
