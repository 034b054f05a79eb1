#!/usr/bin/env bash
# What writing agent output costs kithd: one agent writes MB megabytes of LINE lines (default 100 MB
# of `yes`, 2-byte lines, the worst case for per-line stamping) into its stdout; kithd stamps and
# writes every line. Prints kithd's CPU time (utime + stime from /proc/PID/stat) per MB of agent
# output, the wall time, kithd's peak RSS and the log's size. Usage:
#   scripts/bench-agent-logs.sh [KITHD] [MB] [LINE]   (KITHD default .build/release/kithd)
set -euo pipefail
cd "$(dirname "$0")/.."
kithd=${1:-.build/release/kithd}
megabytes=${2:-100}
line=${3:-y}
dir=$(mktemp -d /tmp/kith-bench-logs-XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    # The agent (and its pipeline) die with kithd (pdeathsig) or by their KITH_LOG, which only they have.
    for proc in /proc/[0-9]*; do
        if { tr '\0' '\n' < "$proc/environ"; } 2>/dev/null | grep -qx "KITH_LOG=$dir/data/agents/.*"; then
            kill -KILL "${proc#/proc/}" 2>/dev/null || true
        fi
    done
    rm -rf "$dir"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bytes=$((megabytes * 1048576))
cat > "$dir/config.json" <<EOF
{"agents": [{"name": "writer", "command": "/bin/sh",
  "args": ["-c", "sleep 1; yes '$line' | head -c $bytes; echo; echo bench-done; exec sleep 1000"]}]}
EOF
"$kithd" --name bench --listen "127.0.0.1:$(port)" --control "127.0.0.1:$(port)" --data-dir "$dir/data" \
    --config "$dir/config.json" --log-file "$dir/kithd.log" &
pid=$!
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
log="$dir/data/agents/writer.log"
until grep -q ' kithd started generation=' "$log" 2>/dev/null; do sleep 0.05; done
before=$(ticks)
started=$(date +%s.%N)
peak=0
until tail -c 200 "$log" 2>/dev/null | grep -q ' out bench-done$'; do
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    [ "$rss" -gt "$peak" ] && peak=$rss
    sleep 0.1
done
after=$(ticks)
ended=$(date +%s.%N)
hz=$(getconf CLK_TCK)
size=$(stat -c %s "$log")
awk -v b="$before" -v a="$after" -v hz="$hz" -v mb="$megabytes" -v s="$started" -v e="$ended" -v peak="$peak" \
    -v size="$size" -v line="$line" 'BEGIN {
    cpu = (a - b) / hz
    printf "agent output: %d MB of \"%s\" lines\n", mb, line
    printf "kithd CPU: %.2f s (%.1f ms per MB of agent output)\n", cpu, cpu * 1000 / mb
    printf "wall: %.2f s (%.1f MB/s)\n", e - s, mb / (e - s)
    printf "kithd peak RSS: %.1f MB; live log %.1f MB (cap 8 MB)\n", peak / 1024, size / 1048576
}'
