import Foundation
import Glibc
import XCTest

/// `lab up --docker` where it cannot run: it says why and how to get what is
/// missing, exits 1 and leaves no record. Needs no engine (the engine is made
/// unreachable with DOCKER_HOST); as root only, since without root it stops earlier.
final class DockerLabUsageTests: XCTestCase {
    private let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kith-nodocker-\(UUID().uuidString)").path

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
        super.tearDown()
    }

    func testWithoutAnEngineLabUpDockerSaysHowToGetOneAndRecordsNothing() throws {
        guard geteuid() == 0 else { throw XCTSkip("as root only: without root lab up --docker stops at that") }
        let result = try Subprocess.run(Binaries.kithctl, ["lab", "up", "--docker", "--nodes", "2", "--dir", directory],
                                        environment: ["DOCKER_HOST": "unix://\(directory)/no-engine.sock", "XDG_CONFIG_HOME": directory + "/config"])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("apt-get install -y docker.io") && result.stderr.contains("scripts/docker-engine.sh start"),
                      result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/lab.json"), "nothing recorded")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/docker.json"), "nothing recorded")
    }

    func testLabUpDockerRefusesOptionsOfOtherLabs() throws {
        let result = try Subprocess.run(Binaries.kithctl, ["lab", "up", "--docker", "--kithd", "/bin/true", "--dir", directory])
        XCTAssertEqual(result.status, 2, "a usage error: \(result.stderr)")
        XCTAssertTrue(result.stderr.contains("--kithd"), result.stderr)
    }

    func testLabUpDockerWantsTheAgentsPathInsideTheImage() throws {
        let result = try Subprocess.run(Binaries.kithctl, ["lab", "up", "--docker", "--agents", "1", "--kith-agent", "bin/agent",
                                                           "--dir", directory])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("absolute path inside the image"), result.stderr)
    }
}
