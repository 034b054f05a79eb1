#!/usr/bin/env bash
# The test suite: unit tests of the core, seeded simulations, the libuv
# shell, and real daemons on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
scripts/deps.sh --tests
swift build --build-tests
swift test --skip-build "$@"
