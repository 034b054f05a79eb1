import Foundation

/// The Docker engine and compose tool a container lab drives, through their
/// CLIs (`docker`, and `docker-compose` or `docker compose`), so any engine
/// the operator's `docker` reaches will do, without a client library.
package enum DockerEngine {
    /// The image `scripts/docker-image.sh` builds and `lab up --docker` runs by default.
    package static let defaultImage = "kith:dev"

    /// How to get an engine, for every message that finds none.
    static let howToGetOne = "install one (Debian: apt-get install -y docker.io docker-compose) and start it"
        + " (systemctl start docker, or scripts/docker-engine.sh start, which starts dockerd and stops it again with stop)"

    /// Runs `docker ARGS`.
    @discardableResult
    package static func docker(_ arguments: [String]) throws -> NetnsTools.Outcome {
        try NetnsTools.run(["docker"] + arguments)
    }

    /// Runs `docker ARGS` and fails with its output unless it succeeds; returns the output.
    @discardableResult
    package static func mustDocker(_ arguments: [String]) throws -> String {
        let outcome = try docker(arguments)
        guard outcome.succeeded else {
            throw Failure("'docker \(arguments.joined(separator: " "))' failed (exit \(outcome.status)): \(outcome.output)")
        }
        return outcome.output
    }

    /// Fails with how to get an engine unless `docker` is installed and a daemon answers it.
    package static func requireEngine() throws {
        guard (try? NetnsTools.path("docker")) != nil else {
            throw Failure("'lab up --docker' needs Docker, and there is no docker command here: \(howToGetOne)")
        }
        let version = try docker(["version", "--format", "{{.Server.Version}}"])
        guard version.succeeded, !version.output.isEmpty else {
            let why = version.output.split(separator: "\n").first { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? "no answer"
            throw Failure("no Docker engine answers (\(why)): \(howToGetOne)")
        }
    }

    /// Fails saying how to build `image` unless the engine has it (no registry is asked).
    package static func requireImage(_ image: String) throws {
        guard try docker(["image", "inspect", "--format", "{{.Id}}", image]).succeeded else {
            throw Failure("the engine has no image \(image): build it with scripts/docker-image.sh (no registry needed:"
                          + " a debootstrap base and binaries built here), or pass --image")
        }
    }

    /// The compose command: Debian's `docker-compose` (1.29), else the `docker compose` plugin.
    package static func composeCommand() throws -> [String] {
        if (try? NetnsTools.path("docker-compose")) != nil { return ["docker-compose"] }
        if (try? docker(["compose", "version"]))?.succeeded == true { return ["docker", "compose"] }
        throw Failure("neither docker-compose nor the docker compose plugin is installed (apt-get install -y docker-compose)")
    }

    /// Runs the compose command on project `project` from `file`.
    @discardableResult
    package static func compose(_ project: String, file: String, _ arguments: [String]) throws -> NetnsTools.Outcome {
        try NetnsTools.run(try composeCommand() + ["--project-name", project, "--file", file] + arguments)
    }

    /// A container's state as `docker inspect` tells it; nil when there is no such container.
    package struct ContainerState {
        /// created, running, paused, restarting, exited, dead.
        package var status: String
        /// healthy, unhealthy, starting, or "" without a healthcheck.
        package var health: String
        /// The host pid of the container's first process (tini), 0 unless running or paused.
        package var pid: Int32
    }

    package static func state(of container: String) -> ContainerState? {
        guard let outcome = try? docker(["inspect", "--format",
                                          "{{.State.Status}} {{.State.Pid}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", container]),
              outcome.succeeded else { return nil }
        let fields = outcome.output.split(separator: " ").map(String.init)
        guard fields.count >= 2 else { return nil }
        return ContainerState(status: fields[0], health: fields.count > 2 ? fields[2] : "", pid: Int32(fields[1]) ?? 0)
    }

    /// Names (containers, networks) or ids (volumes) of what the engine holds for compose project `project`.
    package static func projectObjects(_ project: String) -> (containers: [String], networks: [String], volumes: [String]) {
        let label = "label=com.docker.compose.project=\(project)"
        func list(_ arguments: [String]) -> [String] {
            guard let outcome = try? docker(arguments), outcome.succeeded else { return [] }
            return outcome.output.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        }
        return (list(["ps", "--all", "--quiet", "--filter", label, "--format", "{{.Names}}"]),
                list(["network", "ls", "--quiet", "--filter", label, "--format", "{{.Name}}"]),
                list(["volume", "ls", "--quiet", "--filter", label]))
    }
}
