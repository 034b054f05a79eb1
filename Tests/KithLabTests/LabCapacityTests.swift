import Glibc
import XCTest
@testable import KithLab

/// The size limits of loopback labs come from resources and say which. No daemons.
final class LabCapacityTests: XCTestCase {
    func test_reserve_256Nodes_fitsTheConnectionCapAndLeavesEnoughOpenFiles() throws {
        try LabCapacity.reserve(count: 256)
        var limit = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        XCTAssertGreaterThanOrEqual(Int(limit.rlim_cur), LabCapacity.filesPerDaemon(count: 256))
    }

    func test_reserve_pastTheCapOfOneAddress_namesTheInboundConnectionCap() {
        XCTAssertNoThrow(try LabCapacity.reserve(count: 257), "2 x 256 = 512 connections: exactly the cap")
        XCTAssertThrowsError(try LabCapacity.reserve(count: 258)) { error in
            let text = "\(error)"
            XCTAssert(text.contains("514 inbound connections each from 127.0.0.1"), text)
            XCTAssert(text.contains("at most 512 from one address") && text.contains("at most 257 nodes"), text)
        }
    }
}
