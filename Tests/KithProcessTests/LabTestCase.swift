import XCTest

/// Gives each test its own `LabHarness` (XCTest makes one instance per test
/// method) and always shuts it down, failed or not; a failed test's lab
/// directory (daemon logs) is kept and its path printed.
class LabTestCase: XCTestCase {
    let lab = LabHarness()

    override func tearDown() {
        lab.shutdown(keepingFiles: (testRun?.failureCount ?? 0) + (testRun?.unexpectedExceptionCount ?? 0) > 0)
        super.tearDown()
    }
}
