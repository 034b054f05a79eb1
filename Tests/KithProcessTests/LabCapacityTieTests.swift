import XCTest
import KithLab
@testable import KithNode

/// KithLab cannot import KithNode, so the lab's copy of kithd's limit is tied here
/// (the refusal itself is tested in KithLabTests).
final class LabCapacityTieTests: XCTestCase {
    func testTheLabsInboundCapIsKithdsPerAddressCap() {
        XCTAssertEqual(LabCapacity.inboundPerAddressMax, GossipTransport.inboundConnectionsPerAddressMax)
    }
}
