#!/usr/bin/env bash
# No false *dead* with the CPU starved (issue 16 item 4): a lab of NODES daemons (default 32) idles
# for MINUTES (default 10) while a busy loop this script starts saturates one core; then every
# daemon's log is searched for member_changed events after the hog started. Prints the counts of
# dead, suspect and alive-again transitions and the hog's CPU share; exits 1 on any false dead
# (the lab's directory is then kept for reading). Usage:
#   scripts/hog-lab.sh [KITHCTL] [KITHD] [MINUTES] [NODES]   (default .build/release/kithctl, kithd)
set -euo pipefail
cd "$(dirname "$0")/.."
kithctl=${1:-.build/release/kithctl}
kithd=${2:-.build/release/kithd}
minutes=${3:-10}
nodes=${4:-32}
dir=$(mktemp -d /tmp/kith-hog-lab-XXXXXX)
hog=
keep=0
cleanup() {
    # The hog is this script's own child, ended by its pid; it also stops itself after MINUTES.
    if [ -n "$hog" ]; then kill -KILL "$hog" 2>/dev/null || true; wait "$hog" 2>/dev/null || true; fi
    "$kithctl" lab down --dir "$dir" >/dev/null 2>&1 || true
    if [ "$keep" = 0 ]; then rm -rf "$dir"; else echo "logs kept in $dir"; fi
}
trap cleanup EXIT
"$kithctl" lab up --nodes "$nodes" --dir "$dir" --kithd "$kithd" >/dev/null
# Past the join and the 5 s join-sync window.
sleep 15
seconds=$((minutes * 60))
started_ms=$(($(date +%s%N) / 1000000))
# A little longer than the wait, so its CPU time can be read before it is ended.
( end=$((SECONDS + seconds + 30)); while [ "$SECONDS" -lt "$end" ]; do :; done ) &
hog=$!
echo "$nodes daemons in $dir; CPU hog pid $hog for $minutes min"
sleep "$seconds"
hz=$(getconf CLK_TCK)
hog_cpu=$(awk -v hz="$hz" -v s="$seconds" '{ printf "%.0f", ($14 + $15) / hz / s * 100 }' "/proc/$hog/stat" 2>/dev/null || echo "?")
kill -KILL "$hog" 2>/dev/null || true
wait "$hog" 2>/dev/null || true
hog=
python3 - "$dir" "$started_ms" "$nodes" "$minutes" "$hog_cpu" <<'PY' || keep=1
import glob, json, sys
directory, since, nodes, minutes, hog = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
counts = {"dead": 0, "suspect": 0, "alive": 0, "left": 0}
examples = []
for path in sorted(glob.glob(directory + "/n*/kithd.log")):
    for line in open(path, errors="replace"):
        if '"member_changed"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("ts_ms", 0) < since or event.get("previous") is None:
            continue
        state = event.get("state")
        counts[state] = counts.get(state, 0) + 1
        if state == "dead" and len(examples) < 5:
            examples.append(f'{event.get("node")} saw {event.get("member")} dead at {event.get("ts_ms")}')
print(f'{nodes} daemons, {minutes} min with a CPU hog at {hog}% of one core: {counts["dead"]} false dead, '
      f'{counts["suspect"]} suspect and {counts["alive"]} alive-again transitions')
for example in examples:
    print("  " + example)
sys.exit(1 if counts["dead"] else 0)
PY
exit "$keep"
