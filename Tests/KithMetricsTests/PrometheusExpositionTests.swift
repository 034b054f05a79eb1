import XCTest
@testable import KithMetrics

final class PrometheusExpositionTests: XCTestCase {
    func testCounterGaugeAndHistogramAreWrittenWithHelpTypeAndCumulativeBuckets() throws {
        var exposition = PrometheusExposition(requiredPrefix: "kith_")
        try exposition.counter("kith_probes_total", help: "Direct probes sent.", value: 42)
        try exposition.gauge("kith_members", help: "Members by state, as this node sees them.",
                             [([("state", "alive")], 3), ([("state", "dead")], 1)])
        var latency = Histogram(upperBounds: [0.5, 1, 2.5])
        for seconds in [0.2, 0.5, 0.7, 3.0] { latency.observe(seconds) }
        try exposition.histogram("kith_detection_latency_seconds", help: "Time to declare a failed member dead.", latency)
        XCTAssertEqual(exposition.text, """
            # HELP kith_probes_total Direct probes sent.
            # TYPE kith_probes_total counter
            kith_probes_total 42
            # HELP kith_members Members by state, as this node sees them.
            # TYPE kith_members gauge
            kith_members{state="alive"} 3
            kith_members{state="dead"} 1
            # HELP kith_detection_latency_seconds Time to declare a failed member dead.
            # TYPE kith_detection_latency_seconds histogram
            kith_detection_latency_seconds_bucket{le="0.5"} 2
            kith_detection_latency_seconds_bucket{le="1"} 3
            kith_detection_latency_seconds_bucket{le="2.5"} 3
            kith_detection_latency_seconds_bucket{le="+Inf"} 4
            kith_detection_latency_seconds_sum 4.4
            kith_detection_latency_seconds_count 4

            """)
    }

    func testLabelledHistogramKeepsItsLabelsBeforeLe() throws {
        var exposition = PrometheusExposition()
        var histogram = Histogram(upperBounds: [1])
        histogram.observe(Duration.milliseconds(1500))
        try exposition.histogram("relaunch_seconds", help: "h", [([("node", "n1")], histogram)])
        XCTAssertTrue(exposition.text.contains("relaunch_seconds_bucket{node=\"n1\",le=\"1\"} 0\n"))
        XCTAssertTrue(exposition.text.contains("relaunch_seconds_bucket{node=\"n1\",le=\"+Inf\"} 1\n"))
        XCTAssertTrue(exposition.text.contains("relaunch_seconds_sum{node=\"n1\"} 1.5\n"))
    }

    func testLabelValuesAndHelpAreEscaped() throws {
        var exposition = PrometheusExposition()
        try exposition.gauge("agents", help: "Agents\\state\nsecond line", [([("name", "a\"b\\c\nd")], 1)])
        XCTAssertEqual(exposition.text, """
            # HELP agents Agents\\\\state\\nsecond line
            # TYPE agents gauge
            agents{name="a\\"b\\\\c\\nd"} 1

            """)
    }

    func testValuesAreWrittenAsPrometheusParsesThem() {
        XCTAssertEqual(formatted(3), "3")
        XCTAssertEqual(formatted(-2), "-2")
        XCTAssertEqual(formatted(0.25), "0.25")
        XCTAssertEqual(formatted(1e-05), "1e-05")
        XCTAssertEqual(formatted(.infinity), "+Inf")
        XCTAssertEqual(formatted(-.infinity), "-Inf")
        XCTAssertEqual(formatted(.nan), "NaN")
        XCTAssertEqual(formatted(1e300), "1e+300")
        XCTAssertEqual(Double(formatted(0.1 + 0.2)), 0.1 + 0.2, "round-trips exactly")
    }

    func testNamesBreakingTheConventionsAreRefusedAndLeaveTheTextUnchanged() throws {
        var exposition = PrometheusExposition(requiredPrefix: "kith_")
        try exposition.gauge("kith_ok", help: "h", value: 1)
        let before = exposition.text
        let refused: [(String, MetricsError)] = [
            ("probes_total", .invalidMetricName("probes_total")),
            ("kith_", .invalidMetricName("kith_")),
            ("kith_Probes_total", .invalidMetricName("kith_Probes_total")),
            ("kith_rule:rate_total", .invalidMetricName("kith_rule:rate_total")),
            ("kith_probes", .misplacedSuffix("kith_probes")),
            ("kith_latency_milliseconds_total", .nonBaseUnit("kith_latency_milliseconds_total")),
            ("kith_latency_ms_total", .nonBaseUnit("kith_latency_ms_total")),
            ("kith_probe_counter_total", .nonBaseUnit("kith_probe_counter_total")),
            ("kith_ok_total", .duplicate("metric family kith_ok_total")),
        ]
        try exposition.counter("kith_ok_total", help: "h", value: 1)
        let withCounter = exposition.text
        XCTAssertTrue(withCounter.hasPrefix(before))
        for (name, error) in refused {
            XCTAssertThrowsError(try exposition.counter(name, help: "h", value: 1), name) {
                XCTAssertEqual($0 as? MetricsError, error)
            }
        }
        XCTAssertThrowsError(try exposition.gauge("kith_members_total", help: "h", value: 1)) {
            XCTAssertEqual($0 as? MetricsError, .misplacedSuffix("kith_members_total"))
        }
        XCTAssertThrowsError(try exposition.gauge("kith_frames_count", help: "h", value: 1)) {
            XCTAssertEqual($0 as? MetricsError, .misplacedSuffix("kith_frames_count"))
        }
        XCTAssertThrowsError(try exposition.gauge("kith_size_kilobytes", help: "h", value: 1)) {
            XCTAssertEqual($0 as? MetricsError, .nonBaseUnit("kith_size_kilobytes"))
        }
        XCTAssertThrowsError(try exposition.gauge("kith_health", help: "  ", value: 1)) {
            XCTAssertEqual($0 as? MetricsError, .emptyHelp("kith_health"))
        }
        XCTAssertEqual(exposition.text, withCounter)
    }

    func testBadLabelsDuplicateSeriesAndNaNGaugesAreRefused() {
        var exposition = PrometheusExposition()
        let cases: [(PrometheusExposition.Labels, MetricsError)] = [
            ([("State", "a")], .invalidLabelName("State")),
            ([("__name__", "a")], .invalidLabelName("__name__")),
            ([("le", "1")], .invalidLabelName("le")),
            ([("1st", "a")], .invalidLabelName("1st")),
            ([("a", "1"), ("a", "2")], .invalidLabelName("a")),
        ]
        for (labels, error) in cases {
            XCTAssertThrowsError(try exposition.gauge("g", help: "h", [(labels, 1)])) {
                XCTAssertEqual($0 as? MetricsError, error)
            }
        }
        XCTAssertThrowsError(try exposition.gauge("g", help: "h", [([("a", "1"), ("b", "2")], 1), ([("b", "2"), ("a", "1")], 2)])) {
            XCTAssertEqual($0 as? MetricsError, .duplicate("series g{a=1,b=2}"))
        }
        XCTAssertThrowsError(try exposition.gauge("g", help: "h", value: .nan)) {
            guard case .invalidValue = $0 as? MetricsError else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(exposition.text, "")
        XCTAssertNoThrow(try exposition.gauge("g", help: "h", [([("a", "1,b=2")], 1), ([("a", "1"), ("b", "2")], 1)]),
                         "label values that look like other label sets are still distinct series")
    }

    func testEmptyFamilyWritesOnlyItsHeader() throws {
        var exposition = PrometheusExposition()
        try exposition.gauge("quarantined_agents", help: "h", [])
        XCTAssertEqual(exposition.text, "# HELP quarantined_agents h\n# TYPE quarantined_agents gauge\n")
    }
}
