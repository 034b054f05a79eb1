#!/usr/bin/env bash
# deploy check 'entrypoint': docker/entrypoint.sh's config making: key files with and without IDs, the agent ring,
# the Python agent's path; `kith-entrypoint check` (kithd --check of the generated config and
# the KITH_* variables kithd reads itself); refusals with exit status 2.
# shellcheck source=scripts/deploy-checks/lib.sh
. "$(dirname "$0")/lib.sh"

have_rootfs
ep=$rootfs/usr/local/bin/kith-entrypoint
keys=$tmp/ep-keys
# The image's PATH (Docker's default): Debian's python3, as in the image.
image_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cmp -s docker/entrypoint.sh "$ep" || { echo "the staged entrypoint is not docker/entrypoint.sh"; exit 1; }
sh -n docker/entrypoint.sh && sh -n docker/netfault.sh
mkdir -p "$keys"
printf '%s\n' "$(printf 'a%.0s' $(seq 64))" > "$keys/pub"
printf '# rotated\n3:%s\n%s\n' "$(printf 'b%.0s' $(seq 64))" "$(printf 'c%.0s' $(seq 64))" > "$keys/cluster"
# shellcheck disable=SC2054 # KITH_JOIN holds one comma-separated value
n2_env=(PATH="$image_path" KITH_USER=nobody KITH_NAME=n2 KITH_LISTEN=127.0.0.1:1 KITH_CONTROL=127.0.0.1:2 KITH_DATA_DIR="$tmp/ep-data"
        KITH_OPERATOR_KEYS_FILE="$keys/pub" KITH_CLUSTER_KEYS_FILE="$keys/cluster" KITH_CLUSTER_KEYS=""
        KITH_AGENTS=3 KITH_AGENT_GUARDS=n3 KITH_AGENT_KIND=python KITH_AGENT_POLICY=relaunch-and-mask
        KITH_TAGS="zone=a,rack=r2" KITH_JOIN=n1:7946,n3:7946 KITH_CAPACITY=4)
out=$(env -i "${n2_env[@]}" "$ep" config)
/usr/bin/python3 - "$rootfs" <<PY
import json, os, sys
config = json.loads('''$out''')
assert config["cluster_keys"] == ["3:<redacted>", "1:<redacted>"], config["cluster_keys"]
assert config["operator_keys"] == ["a" * 64], config["operator_keys"]
assert not {"tags", "join", "capacity"} & set(config), "kithd reads these from KITH_* itself: %r" % config
agents = config["agents"]
assert [a["name"] for a in agents] == ["n2-a1", "n2-a2", "n2-a3"], agents
assert all(a["protects"] == ["n3-a1", "n3-a2", "n3-a3"] and a["policy"] == "relaunch-and-mask" for a in agents), agents
command = agents[0]["command"]
assert command == sys.argv[1] + "/usr/local/lib/kith/agents/guardian.py" and os.access(command, os.X_OK), command
assert "advertise" not in config and config["control"] == "127.0.0.1:2"
PY
echo "config: key files with and without IDs, a python agent ring: ok"
out=$(env -i "${n2_env[@]}" "$ep" check) || { echo "$out"; echo "kith-entrypoint check refused a good environment"; exit 1; }
[ "$out" = ok ] || { echo "$out"; echo "kith-entrypoint check did not say ok"; exit 1; }
status=0
err=$(env -i "${n2_env[@]}" KITH_TAGS=zone KITH_CAPACITY=lots "$ep" check 2>&1 >/dev/null) || status=$?
if [ "$status" -ne 2 ] || ! grep -q "KITH_TAGS" <<<"$err" || ! grep -q "KITH_CAPACITY" <<<"$err"; then
    echo "check with KITH_TAGS=zone KITH_CAPACITY=lots: exit $status, expected 2 naming both: $err"; exit 1
fi
echo "check: kithd --check of the generated config and the KITH_* it reads itself (tags, join, capacity): ok, and names bad ones: ok"
out=$(env -i PATH="$image_path" KITH_NAME=n1 KITH_DATA_DIR="$tmp/ep-data" KITH_AGENTS=2 KITH_AGENT_GUARDS=n1 "$ep" config 2>/dev/null)
/usr/bin/python3 -c '
import json, sys
c = json.loads(sys.argv[1])
assert c["listen"] == "0.0.0.0:7946" and c["advertise"].endswith(":7946"), c
assert [a["protects"] for a in c["agents"]] == [["n1-a2"], ["n1-a1"]], c["agents"]' "$out"
echo "defaults: listen 0.0.0.0:7946 with an advertise address, control $(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["control"])' "$out"); a lone node's agents guard each other: ok"
# As in a container: a hostname that /etc/hosts maps to the container's address
# (private UTS and mount namespaces; nothing is sent anywhere).
cat > "$tmp/ep-hosts.sh" <<'EOF'
set -eu
hostname n9
printf '127.0.0.1 localhost\n192.0.2.9 n9\n' > "$1/hosts"
mount --bind "$1/hosts" /etc/hosts
env -i PATH="$2" KITH_DATA_DIR="$1/ep-data" "$3" config
EOF
out=$(unshare -m -u sh "$tmp/ep-hosts.sh" "$tmp" "$image_path" "$ep" 2>/dev/null)
/usr/bin/python3 -c '
import json, sys
c = json.loads(sys.argv[1])
assert (c["name"], c["listen"], c["advertise"], c["control"]) == ("n9", "0.0.0.0:7946", "n9:7946", "192.0.2.9:7400"), c' "$out"
echo "in a container named n9 at 192.0.2.9: name n9, advertise n9:7946, control 0.0.0.0 -> 192.0.2.9:7400: ok"
for bad in "KITH_AGENT_POLICY=sometimes:KITH_AGENT_POLICY" "KITH_AGENT_KIND=ruby:KITH_AGENT_KIND" \
           "KITH_AGENTS=many:KITH_AGENTS" "KITH_LISTEN=nowhere:KITH_LISTEN" "KITH_NET_FAULTS=iptables:KITH_NET_FAULTS" \
           "KITH_CAPACITY=lots:KITH_CAPACITY" "KITH_RELAUNCH_QUORUM=sometimes:KITH_RELAUNCH_QUORUM"; do
    expect=${bad##*:}
    bad=${bad%:*}
    status=0
    err=$(env -i PATH="$image_path" KITH_NAME=n1 KITH_DATA_DIR="$tmp/ep-data" KITH_USER=nobody KITH_AGENTS=1 \
          KITH_LISTEN=127.0.0.1:1 KITH_CONTROL=127.0.0.1:2 "$bad" timeout 5 "$ep" kithd 2>&1 >/dev/null) || status=$?
    if [ "$status" -ne 2 ] || ! grep -q "$expect" <<<"$err"; then
        echo "with $bad: exit $status, expected 2 naming $expect: $err"; exit 1
    fi
done
echo "refuses bad settings (policy, kind, count, address, net faults mode; capacity and quorum through kithd --check): ok"
