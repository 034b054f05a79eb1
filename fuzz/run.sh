#!/usr/bin/env bash
# Builds the fuzzers with libFuzzer and AddressSanitizer (their own build path) and runs each for
# SECONDS (default 60), starting from the seeds in seeds/TARGET plus what earlier runs found in
# corpus/TARGET. A crash, a sanitizer report or a failed round-trip stops that fuzzer, leaves the
# input in crashes/TARGET-*, and fails the script: turn the input into a regression test.
set -euo pipefail
cd "$(dirname "$0")"
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
seconds=${1:-60}
swift build --build-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
mkdir -p crashes
status=0
for target in fuzz-wire fuzz-json fuzz-control fuzz-agent; do
    mkdir -p "corpus/$target"
    inputs=("corpus/$target")
    if [ -d "seeds/$target" ]; then inputs+=("seeds/$target"); fi  # fuzz-wire has no seeds: it starts empty
    echo "== $target for ${seconds}s"
    .build-fuzz/debug/$target -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="crashes/$target-" "${inputs[@]}" 2>&1 | grep -v '^#[0-9]' || status=1
done
exit $status
