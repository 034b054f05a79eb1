#!/usr/bin/env bash
# The test suite: unit tests of the core, seeded simulations, the libuv
# shell, and real daemons on 127.0.0.1; then the Python SDK's unit tests
# (standard library only, no network: fakes of the daemon and the model endpoint).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
scripts/deps.sh --tests
swift build --build-tests
swift test --skip-build "$@"
python3 -m unittest discover -s python/tests
