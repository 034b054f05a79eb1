import Foundation
import KithCore

/// `CONFIG/known_nodes.json`: node name → the event-log public key first seen
/// for it, so a node that comes back with another key is noticed.
package enum KnownNodes {
    package static var path: String { OperatorKey.configDirectory + "/known_nodes.json" }

    package static func load() throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        guard let object = (try? JSON.parse(bytes: data))?.objectValue else {
            throw Failure("\(path) is not a JSON object of node name to public key; fix or remove it")
        }
        return object.compactMapValues(\.stringValue)
    }

    package static func save(_ pins: [String: String]) throws {
        try FileManager.default.createDirectory(atPath: OperatorKey.configDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let json = JSON.object(pins.mapValues(JSON.string))
        try (json.serialized(pretty: true) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Drops the pins of `names` (a fresh lab gives its nodes new keys under the old names).
    package static func forget(_ names: [String]) {
        guard var pins = try? load(), names.contains(where: { pins[$0] != nil }) else { return }
        for name in names { pins[name] = nil }
        try? save(pins)
    }
}
