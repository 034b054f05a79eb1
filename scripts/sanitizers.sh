#!/usr/bin/env bash
# The core, shell and node tests under AddressSanitizer and ThreadSanitizer, each in its own
# build path (.build-asan, .build-tsan) so the ordinary build is untouched. The process tests are
# left out: they start the ordinary kithd and kithctl binaries, which are not instrumented; so is
# HTTPServerLoadTests, whose bound is on latency (a loop stall under 200 ms) that the sanitizers'
# slowdown breaks on a shared machine without any memory or threading error.
# Usage: scripts/sanitizers.sh [address|thread]... (default both).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
filter='KithCoreTests|KithUVTests|KithNodeTests|KithJSONTests'
for sanitizer in "${@:-address thread}"; do
    for name in $sanitizer; do
        path=".build-${name:0:1}san"
        echo "== -sanitize=$name ($path): $filter"
        swift build --build-tests --build-path "$path" -Xswiftc -sanitize="$name"
        # TSan reports a race as a warning and carries on: halt so a race fails the run.
        TSAN_OPTIONS="halt_on_error=1" ASAN_OPTIONS="detect_leaks=0" \
            swift test --skip-build --build-path "$path" --filter "$filter" --skip HTTPServerLoadTests
    done
done
