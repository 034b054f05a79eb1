import Foundation
import XCTest
@testable import KithReport

/// Medians and bootstrap intervals against samples whose distribution is known.
final class StatisticsTests: XCTestCase {
    private func normal(_ count: Int, mean: Double = 0, seed: UInt64) -> [Double] {
        var random = StatisticsRandom(seed: seed)
        return (0..<count).map { _ in
            // Box-Muller; 1 - unit() is in (0, 1], so the log is finite.
            mean + (-2 * log(1 - random.unit())).squareRoot() * cos(2 * .pi * random.unit())
        }
    }

    private func exponential(_ count: Int, random: inout StatisticsRandom) -> [Double] {
        (0..<count).map { _ in -log(1 - random.unit()) }
    }

    func test_medianAndQuantiles_ofKnownSamples() {
        XCTAssertEqual(Statistics.median([3, 1, 2]), 2)
        XCTAssertEqual(Statistics.median([4, 1, 3, 2]), 2.5)
        XCTAssertNil(Statistics.median([]))
        let sorted = (0...100).map(Double.init)
        XCTAssertEqual(Statistics.quantile(sorted: sorted, 0.025), 2.5)
        XCTAssertEqual(Statistics.quantile(sorted: sorted, 0.975), 97.5)
        XCTAssertEqual(Statistics.quantile(sorted: [7], 0.3), 7)
    }

    func test_medianInterval_ofOneToOneHundredAndOne_isAboutTheOrderStatisticInterval() throws {
        // The median of 1...101 is 51; the distribution-free 95% interval of a median of 101 is
        // the 41st to 61st order statistic (51 ± 1.96·√101/2 ≈ ±9.8).
        let values = (1...101).map(Double.init)
        let interval = try XCTUnwrap(Statistics.medianInterval(values, seed: 1))
        XCTAssertEqual(Statistics.median(values), 51)
        XCTAssertTrue((38...45).contains(interval.low), "low \(interval.low)")
        XCTAssertTrue((57...64).contains(interval.high), "high \(interval.high)")
    }

    func test_medianInterval_ofAStandardNormalSample_coversZeroWithTheTheoreticalWidth() throws {
        // The median of n normal draws has standard error √(π/2)/√n: for n = 1000, a 95% interval about 0.155 wide.
        let sample = normal(1000, seed: 42)
        let median = try XCTUnwrap(Statistics.median(sample))
        let interval = try XCTUnwrap(Statistics.medianInterval(sample, seed: 7))
        XCTAssertEqual(median, 0, accuracy: 0.12)
        XCTAssertTrue(interval.contains(0), "\(interval)")
        XCTAssertTrue(interval.contains(median))
        XCTAssertEqual(interval.high - interval.low, 0.155, accuracy: 0.06)
    }

    func test_medianInterval_coversTheTrueMedianOfAnExponentialAbout95PercentOfTheTime() throws {
        // 200 samples of 30 draws from Exp(1), whose median is ln 2; a 95% interval should miss it about 10 times.
        var random = StatisticsRandom(seed: 2024)
        var covered = 0
        for trial in 0..<200 {
            let sample = exponential(30, random: &random)
            let interval = try XCTUnwrap(Statistics.medianInterval(sample, seed: UInt64(trial), resamples: 1000))
            if interval.contains(log(2)) { covered += 1 }
        }
        // Binomial(200, 0.95) lies in 181...197 with probability above 99%; the percentile bootstrap of a median runs a little wide.
        XCTAssertTrue((180...199).contains(covered), "covered \(covered) of 200")
    }

    func test_intervals_areTheSameForTheSameSeed_andDegenerateForOneValue() throws {
        let sample = normal(25, seed: 3)
        let interval = try XCTUnwrap(Statistics.medianInterval(sample, seed: 9))
        XCTAssertEqual(Statistics.medianInterval(sample, seed: 9), interval)
        XCTAssertTrue(interval.contains(try XCTUnwrap(Statistics.median(sample))))
        XCTAssertEqual(Statistics.medianInterval([4], seed: 1), Statistics.Interval(low: 4, high: 4))
        XCTAssertEqual(Statistics.medianInterval([2, 2, 2], seed: 1), Statistics.Interval(low: 2, high: 2))
        XCTAssertNil(Statistics.medianInterval([], seed: 1))
    }

    func test_difference_findsAShiftOfOneAndNoneBetweenTheSameDistribution() throws {
        let baseline = normal(200, seed: 11)
        let shifted = normal(200, mean: 1, seed: 12)
        let difference = try XCTUnwrap(Statistics.difference(baseline: baseline, condition: shifted, seed: 5))
        XCTAssertEqual(difference.difference, 1, accuracy: 0.3)
        XCTAssertTrue(difference.ci95.contains(1), "\(difference.ci95)")
        XCTAssertTrue(difference.excludesZero)

        let same = try XCTUnwrap(Statistics.difference(baseline: baseline, condition: normal(200, seed: 13), seed: 5))
        XCTAssertTrue(same.ci95.contains(0), "\(same.ci95)")
        XCTAssertFalse(same.excludesZero)
        XCTAssertNil(Statistics.difference(baseline: [], condition: [1], seed: 1))
    }

    func test_figureSeeds_differByFigureAndStayPut() {
        XCTAssertEqual(Statistics.seed(7, "policy", "masking_incidents"), Statistics.seed(7, "policy", "masking_incidents"))
        XCTAssertNotEqual(Statistics.seed(7, "policy", "masking_incidents"), Statistics.seed(7, "control", "masking_incidents"))
        XCTAssertNotEqual(Statistics.seed(7, "a", "bc"), Statistics.seed(7, "ab", "c"))
    }
}
