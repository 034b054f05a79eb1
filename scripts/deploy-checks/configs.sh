#!/usr/bin/env bash
# deploy check 'configs': deploy/config/n*.json: the three hosts consistent with each other, placeholders instead
# of keys; each accepted by `kithd --check-config` once its placeholders hold real keys (and
# an unknown key refused, so the check is real); then the three run for real in a private
# network namespace (10.0.0.N as 127.0.0.N) until they see each other alive, run the three
# agents and obey a signed command fanned out through their control addresses; SIGTERM.
# shellcheck source=scripts/deploy-checks/lib.sh
. "$(dirname "$0")/lib.sh"

have_rootfs
/usr/bin/python3 - "$repo" deploy/config/n*.json <<'PY'
import ipaddress, json, re, sys
repo, paths = sys.argv[1], sys.argv[2:]
problems = []
configs = {}
for path in paths:
    try:
        config = json.load(open(path))
    except ValueError as error:
        problems.append("%s: not JSON: %s" % (path, error))
        continue
    configs[path] = config
    text = open(path).read()
    if re.search(r"[0-9a-fA-F]{64}", text):
        problems.append("%s: holds a 64-hex-digit key; examples carry placeholders only" % path)
    for key in ("operator_keys", "cluster_keys"):
        if not all("REPLACE_WITH_" in k for k in config.get(key, [])) or not config.get(key):
            problems.append("%s: %s must be placeholders" % (path, key))
if len(configs) != 3:
    problems.append("expected three example configs, found %d" % len(configs))
names = [c.get("name") for c in configs.values()]
if len(set(names)) != len(names):
    problems.append("names repeat: %s" % names)
listens = {c["name"]: c.get("listen") for c in configs.values()}
agents = {a["name"] for c in configs.values() for a in c.get("agents", [])}
for path, c in configs.items():
    host = c.get("listen", "").rpartition(":")[0]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        problems.append("%s: listen %r is not an address of the host" % (path, c.get("listen")))
    if c.get("control", "").rpartition(":")[0] != host:
        problems.append("%s: control %r is not on the host's address (kithctl fans out through it)" % (path, c.get("control")))
    others = sorted(v for k, v in listens.items() if k != c["name"])
    if sorted(c.get("join", [])) != others:
        problems.append("%s: join %r should list the other hosts %r" % (path, c.get("join"), others))
    for agent in c.get("agents", []):
        for peer in agent.get("protects", []):
            if peer not in agents:
                problems.append("%s: agent %s protects unknown agent %s" % (path, agent["name"], peer))
for problem in problems:
    print("PROBLEM: " + problem)
sys.exit(1 if problems else 0)
PY
echo "consistency, placeholders: ok"

dir=$tmp/three-hosts
mkdir -p "$dir/as-written"
make_secrets "$dir/keys"

# Every key as kithd itself reads it: the configs as written, their placeholders replaced by real keys.
/usr/bin/python3 - "$dir" deploy/config/n*.json <<'PY'
import json, os, sys
dir, paths = sys.argv[1], sys.argv[2:]
pub = open(dir + "/keys/operator.key.pub").read().strip()
cluster = open(dir + "/keys/cluster.key").read().strip()
for path in paths:
    config = json.load(open(path))
    config["operator_keys"] = [pub]
    config["cluster_keys"] = [k.split(":")[0] + ":" + cluster for k in config["cluster_keys"]]
    open("%s/as-written/%s" % (dir, os.path.basename(path)), "w").write(json.dumps(config, indent=2))
    if path.endswith("n1.json"):
        config["colour"] = "blue"
        open(dir + "/unknown-key.json", "w").write(json.dumps(config, indent=2))
PY
for config in "$dir"/as-written/n*.json; do
    out=$("$rootfs/usr/local/bin/kithd" --check-config "$config" 2>&1) || { echo "$out"; echo "kithd --check-config refuses $(basename "$config")"; exit 1; }
    [ "$out" = ok ] || { echo "$out"; echo "kithd --check-config $(basename "$config") did not say ok"; exit 1; }
done
echo "kithd --check-config: the three configs (placeholders replaced) ok"
status=0
out=$("$rootfs/usr/local/bin/kithd" --check-config "$dir/unknown-key.json" 2>&1) || status=$?
if [ "$status" -ne 2 ] || ! grep -q "unknown config key 'colour'" <<<"$out"; then
    echo "$out"; echo "kithd --check-config of a config with an unknown key: exit $status, expected 2 naming it"; exit 1
fi
echo "kithd --check-config refuses an unknown key with exit 2: ok"

# The three configs, run: in a private network namespace, 10.0.0.N -> 127.0.0.N.
/usr/bin/python3 - "$dir" "$rootfs" deploy/config/n*.json <<'PY'
import json, os, sys
dir, rootfs, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
pub = open(dir + "/keys/operator.key.pub").read().strip()
cluster = open(dir + "/keys/cluster.key").read().strip()
def local(address):
    return address.replace("10.0.0.", "127.0.0.")
for path in paths:
    config = json.load(open(path))
    name = config["name"]
    config["listen"], config["control"] = local(config["listen"]), local(config["control"])
    config["join"] = [local(a) for a in config["join"]]
    config["data_dir"] = "%s/%s/data" % (dir, name)
    config["operator_keys"] = [pub]
    config["cluster_keys"] = [k.split(":")[0] + ":" + cluster for k in config["cluster_keys"]]
    for agent in config.get("agents", []):
        agent["command"] = agent["command"].replace("/usr/local/", rootfs + "/usr/local/")
    text = json.dumps(config, indent=2)
    assert "10.0.0." not in text and "REPLACE_WITH" not in text, text
    os.makedirs("%s/%s" % (dir, name), exist_ok=True)
    open("%s/%s/kithd.json" % (dir, name), "w").write(text)
PY
cat > "$dir/run.sh" <<'EOF'
set -euo pipefail
dir=$1 bin=$2
ip link set lo up
pids=()
stop_all() {
    local pid child
    for pid in "${pids[@]}"; do
        for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do echo "$child" >> "$dir/children"; done
        kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 3
    for pid in "${pids[@]}" $(cat "$dir/children" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
for n in n1 n2 n3; do
    "$bin/kithd" --config "$dir/$n/kithd.json" 2> "$dir/$n/kithd.log" &
    pids+=($!)
done
ctl() { timeout 10 "$bin/kithctl" --node 127.0.0.1:7400 --key "$dir/keys/operator.key" "$@"; }
count() { /usr/bin/python3 -c 'import json,sys; print(sum(1 for x in json.load(sys.stdin) if x.get(sys.argv[1]) == sys.argv[2]))' "$@"; }
alive=0 running=0
for _ in $(seq 60); do
    alive=$(ctl members --json 2>/dev/null | count state alive 2>/dev/null || echo 0)
    running=$(ctl agents --json 2>/dev/null | count state running 2>/dev/null || echo 0)
    [ "$alive" -eq 3 ] && [ "$running" -eq 3 ] && break
    sleep 0.5
done
if [ "$alive" -ne 3 ] || [ "$running" -ne 3 ]; then
    ctl members || true; ctl agents || true; tail -n 5 "$dir"/n*/kithd.log
    echo "the three example hosts did not converge (alive $alive, agents running $running)"; exit 1
fi
echo "three hosts alive, agents n1-guard n2-guard n3-guard running"
ctl heal --json > "$dir/heal.json" || { cat "$dir/heal.json"; echo "signed heal refused"; exit 1; }
acks=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d=d if isinstance(d,list) else d.get("nodes", d.get("results", [])); print(sum(1 for x in d if x.get("ok")))' "$dir/heal.json" 2>/dev/null || echo "?")
[ "$acks" = 3 ] || { cat "$dir/heal.json"; echo "signed heal: $acks of 3 nodes acknowledged through their control addresses"; exit 1; }
echo "signed heal fanned out to the three control addresses: ok"
status=0
for i in 0 1 2; do kill -TERM "${pids[$i]}"; done
for i in 0 1 2; do wait "${pids[$i]}" || status=$?; done
pids=()
[ "$status" -eq 0 ] || { echo "a kithd exited with $status after SIGTERM"; exit 1; }
echo "SIGTERM: all three exited 0"
EOF
unshare -n bash "$dir/run.sh" "$dir" "$rootfs/usr/local/bin"
