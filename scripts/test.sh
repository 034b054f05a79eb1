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

# The fault campaign and hostile bytes, on a full run only (no arguments) unless KITH_SKIP_CAMPAIGN=1.
# Each step is boxed by timeout(1) (the campaign and the soak by their own boxes too): typically about
# 7 + 3 + 4 + 10 minutes on 2 cores, at most 8 + 5.5 + 7 + 15.
if [ $# -eq 0 ] && [ "${KITH_SKIP_CAMPAIGN:-0}" != 1 ]; then
    # 2,000 random fault schedules in simulation (the count is printed; the box stops it early, saying so).
    KITH_SIM_CAMPAIGN=2000 KITH_SIM_CAMPAIGN_SECONDS=420 timeout -k 10 480 \
        swift test --skip-build --filter FaultCampaignTests
    # A short soak of a real lab: random faults, heal, the history checker; fails on any violation
    # (KITH_SOAK=0 leaves it out).
    if [ "${KITH_SOAK:-1}" != 0 ]; then
        soak_dir=$(mktemp -d)
        timeout -k 30 330 .build/debug/kithctl soak --for 2m --seed "${KITH_SOAK_SEED:-1}" --report "$soak_dir"
        rm -rf "$soak_dir"
    fi
    # Hostile bytes: each coverage-guided fuzzer for 30 s (its build, in fuzz/.build-fuzz, about 1-2 minutes).
    timeout -k 10 420 fuzz/run.sh 30
    # The JSON, core, shell and node tests under AddressSanitizer (own build path; about 10 minutes on
    # 2 cores); ThreadSanitizer too with KITH_TSAN=1 (another 10-15 minutes: over CI's budget by default).
    timeout -k 10 900 scripts/sanitizers.sh address
    if [ "${KITH_TSAN:-0}" = 1 ]; then timeout -k 10 1200 scripts/sanitizers.sh thread; fi
fi
