import XCTest
@testable import KithMetrics

final class HistogramTests: XCTestCase {
    func testObservationsLandInTheFirstBucketWhoseBoundIsAtLeastTheValue() {
        var histogram = Histogram(upperBounds: [1, 2, 5])
        for value in [0.0, 1.0, 1.0001, 2.0, 4.9, 5.0, 5.1, 1000, -3] { histogram.observe(value) }
        XCTAssertEqual(histogram.bucketCounts, [3, 2, 2, 2])
        XCTAssertEqual(histogram.cumulativeCounts, [3, 5, 7, 9])
        XCTAssertEqual(histogram.count, 9)
        XCTAssertEqual(histogram.sum, 0 + 1 + 1.0001 + 2 + 4.9 + 5 + 5.1 + 1000 - 3, accuracy: 1e-9)
    }

    func testNaNIsIgnoredAndDurationsAreSeconds() {
        var histogram = Histogram(upperBounds: Histogram.latencySecondsBounds)
        histogram.observe(Double.nan)
        XCTAssertEqual(histogram.count, 0)
        histogram.observe(Duration.milliseconds(250))
        histogram.observe(Duration.seconds(90))
        XCTAssertEqual(histogram.sum, 90.25)
        XCTAssertEqual(histogram.cumulativeCounts.first { $0 > 0 }, 1)
        XCTAssertEqual(histogram.bucketCounts[Histogram.latencySecondsBounds.firstIndex(of: 0.25)!], 1)
        XCTAssertEqual(histogram.bucketCounts.last, 1, "above the last bound: only in +Inf")
    }
}
