import XCTest
@testable import KithUV

final class ListenerErrorTests: XCTestCase {
    func testATCPListenerGivenAHostNameInsteadOfAnIPLiteralThrowsEINVALAndFreesItsHandle() throws {
        var failure: UVError?
        weak var freedLoop: EventLoop?
        try runLoop { loop in
            freedLoop = loop
            do throws(UVError) {
                _ = try TCPListener(loop: loop, host: "localhost", port: 0, framing: .lines(maxLineBytes: 8)) { _ in }
            } catch {
                failure = error
            }
            loop.stop()
        }
        XCTAssertEqual(failure?.name, "EINVAL")
        XCTAssertNil(freedLoop)
    }
}
