import Foundation
import XCTest
@testable import KithLab

/// The URL `kithctl dashboard` prints: the token, when the node has one, only in the fragment.
final class DashboardURLTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.path + "/kith-dashboard-url-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func test_withoutATokenFile_theURLIsThePageAlone() throws {
        XCTAssertEqual(try DashboardURL.url(http: "127.0.0.1:8080", tokenFile: nil), "http://127.0.0.1:8080/")
    }

    func test_withATokenFile_theTokenIsTrimmedAndPercentEncodedInTheFragment() throws {
        let path = directory + "/token"
        try "  a b&c#d+é/=\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try DashboardURL.url(http: "127.0.0.1:8080", tokenFile: path),
                       "http://127.0.0.1:8080/#token=a%20b%26c%23d%2B%C3%A9%2F%3D")
    }

    func test_aMissingOrEmptyTokenFile_fails_namingIt() throws {
        XCTAssertThrowsError(try DashboardURL.url(http: "h:1", tokenFile: directory + "/none")) { error in
            XCTAssertTrue("\(error)".contains(self.directory + "/none"), "\(error)")
        }
        try "\n".write(toFile: directory + "/empty", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try DashboardURL.url(http: "h:1", tokenFile: directory + "/empty")) { error in
            XCTAssertTrue("\(error)".contains("is empty"), "\(error)")
        }
    }

    func test_theTokenFileIsTheLastOneInTheNodesArgs() {
        let node = LabNode(name: "n1", pid: 1, listen: "", control: "", dataDir: "",
                           args: ["--http", "127.0.0.1:1", "--http-token-file", "/a", "--http-token-file", "/b"])
        XCTAssertEqual(node.httpTokenFile, "/b")
        XCTAssertNil(LabNode(name: "n1", pid: 1, listen: "", control: "", dataDir: "", args: ["--http-token-file"]).httpTokenFile)
    }
}
