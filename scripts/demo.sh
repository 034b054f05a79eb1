#!/usr/bin/env bash
# The quick-start demo: build, start a 5-node lab with guardian agents, kill a
# node, stop an agent politely, throw the kill-switch, print the report, tear down.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
scripts/deps.sh
swift build -c release --product kithd >&2
swift build -c release --product kithctl >&2
swift build -c release --product kith-agent >&2
exec .build/release/kithctl demo "$@"
