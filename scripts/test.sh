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

# The fault campaign, on a full run only (no arguments) unless KITH_SKIP_CAMPAIGN=1; each step is
# time-boxed twice (its own box, and timeout(1) over it): at most about 8 + 6 minutes.
if [ $# -eq 0 ] && [ "${KITH_SKIP_CAMPAIGN:-0}" != 1 ]; then
    # 2,000 random fault schedules in simulation (the count is printed; the box stops it early, saying so).
    KITH_SIM_CAMPAIGN=2000 KITH_SIM_CAMPAIGN_SECONDS=420 timeout -k 10 480 \
        swift test --skip-build --filter FaultCampaignTests
    # A short soak of a real lab: random faults, heal, the history checker; fails on any violation.
    soak_dir=$(mktemp -d)
    timeout -k 30 330 .build/debug/kithctl soak --for 2m --seed "${KITH_SOAK_SEED:-1}" --report "$soak_dir"
    rm -rf "$soak_dir"
fi
