import Foundation
import KithCore

/// What a container lab holds in the engine, kept in `docker.json` beside the
/// lab's `lab.json` (a netns record: each container's network namespace is
/// attached under a name, so `lab partition`, `heal` and `netem` work on it as
/// on a netns lab). Written before anything is created, so `lab down` can
/// remove the project after any crash.
package struct DockerLabSetup {
    /// The compose project: every container, network and volume carries its label.
    package var project: String
    package var image: String
    /// The compose file `lab up --docker` wrote (JSON, which compose reads as YAML).
    package var composeFile: String
    /// Whether the containers hold NET_ADMIN (`--net-admin`), for `kith-netfault` inside them.
    package var netAdmin: Bool
    /// Node name → container name.
    package var containers: [String: String]

    package static let fileName = "docker.json"

    package static func isRecorded(in directory: String) -> Bool {
        FileManager.default.fileExists(atPath: directory + "/" + fileName)
    }

    package static func load(from directory: String) throws -> DockerLabSetup? {
        let path = directory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let json: JSON
        do {
            json = try JSON.parse(bytes: data)
        } catch {
            throw Failure("\(path) is not valid JSON: \(error)")
        }
        guard let project = json["project"]?.stringValue, let image = json["image"]?.stringValue,
              let composeFile = json["compose_file"]?.stringValue, let containers = json["containers"]?.objectValue else {
            throw Failure("\(path) lacks project, image, compose_file or containers")
        }
        return DockerLabSetup(project: project, image: image, composeFile: composeFile, netAdmin: json["net_admin"]?.boolValue ?? false,
                              containers: containers.compactMapValues(\.stringValue))
    }

    package func save(to directory: String) throws {
        let json: JSON = [
            "project": .string(project), "image": .string(image), "compose_file": .string(composeFile),
            "net_admin": .bool(netAdmin), "containers": .object(containers.mapValues(JSON.string)),
        ]
        try (json.serialized(pretty: true) + "\n").write(toFile: directory + "/" + Self.fileName, atomically: true, encoding: .utf8)
    }

    package func container(_ node: String) throws -> String {
        guard let container = containers[node] else {
            throw Failure("the lab has no node '\(node)' (it has \(containers.keys.sorted().joined(separator: ", ")))")
        }
        return container
    }
}
