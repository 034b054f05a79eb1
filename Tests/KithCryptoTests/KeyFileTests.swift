import Glibc
import XCTest
@testable import KithCrypto

final class KeyFileTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/kithcrypto-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw XCTSkip("mkdtemp failed") }
        directory = String(cString: template)
    }

    override func tearDown() {
        if let dir = opendir(directory) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { unlink("\(directory)/\(name)") }
            }
            closedir(dir)
        }
        rmdir(directory)
    }

    private func mode(_ path: String) -> UInt32? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return UInt32(status.st_mode & 0o7777)
    }

    private func entries() -> [String] {
        var names: [String] = []
        guard let dir = opendir(directory) else { return names }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    func testWritesMode0600AndReadsBack() throws {
        let path = "\(directory)/node.key"
        let old = umask(0)  // even a permissive umask must not widen the mode
        defer { umask(old) }
        try KeyFile.write("secret\n", to: path)
        XCTAssertEqual(mode(path), 0o600)
        XCTAssertEqual(try KeyFile.read(path), "secret\n")
        XCTAssertEqual(entries(), ["node.key"], "no temporary file is left behind")
    }

    func testReplacingKeepsMode0600() throws {
        let path = "\(directory)/cluster.key"
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        close(fd)
        try KeyFile.write("new", to: path)
        XCTAssertEqual(mode(path), 0o600)
        XCTAssertEqual(try KeyFile.read(path), "new")
    }

    func testErrorsAreReadable() {
        do {
            _ = try KeyFile.read("\(directory)/missing.key")
            XCTFail("read a missing file")
        } catch {
            XCTAssertTrue(error.isMissing)
            XCTAssertEqual(error.description, "cannot read key file \(directory)/missing.key: no such file or directory")
        }
        do {
            try KeyFile.write("x", to: "\(directory)/no/such/dir/node.key")
            XCTFail("wrote into a missing directory")
        } catch {
            XCTAssertFalse(error.isMissing && error.action == "read")
            XCTAssertTrue(error.description.contains("no such file or directory"), error.description)
        }
    }
}
