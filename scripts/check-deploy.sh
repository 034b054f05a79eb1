#!/usr/bin/env bash
# Validates everything under docker/ and deploy/ on a machine without a Docker
# engine or a Kubernetes cluster (CI runs it). Each check prints PASS or FAIL;
# the last line is "N passed, N failed"; the exit status is 1 if any failed.
#
#   build     scripts/docker-build-steps.sh --runtime-rootfs: the Dockerfile's
#             build stage replayed outside Docker, the runtime image's packages
#             checked, the staged entrypoint run as the image would, then the
#             runtime stage replayed in a debootstrapped chroot (see that script;
#             KITH_SKIP_RUNTIME_ROOTFS=1 skips the chroot, which needs Debian's
#             mirror and takes about a minute)
#   compose   `docker-compose config` (Debian's docker-compose 1.29) on
#             docker/compose.yaml with throwaway keys, then the resolved file
#             checked: five nodes that advertise and guard as documented, secrets
#             that exist, healthchecks, the coordinator; yamllint
#   systemd   `systemd-analyze verify` of deploy/systemd/kithd.service in a
#             scratch root holding the real kithd at /usr/local/bin (verify checks
#             that ExecStart is executable; --root keeps the host untouched); no
#             warnings allowed; the hardening directives present; the exposure
#             score of `systemd-analyze security --offline` at most 4.0
#   k8s       yamllint; kubernetes-validate --strict (schemas of PyPI's
#             kubernetes-validate, offline) of every manifest and of the Secret
#             template; cross-references: Service/StatefulSet/labels, probes on
#             the control port, Secret and ConfigMap names and keys, no namespace
#   configs   deploy/config/n*.json: keys against those kithd's parser accepts
#             (read from its source), the three hosts consistent with each
#             other, placeholders instead of keys; then the three configs run for
#             real: in a private network namespace, their 10.0.0.N addresses as
#             127.0.0.N, placeholders replaced by fresh keys, until the three
#             nodes see each other alive, run the three agents and obey a signed
#             command fanned out through their control addresses; SIGTERM
#   netfault  docker/netfault.sh in a private network namespace: a TCP connect
#             succeeds, is silently dropped after `drop`, succeeds after `heal`;
#             --out only; refuses without KITH_NET_FAULTS=nft
#   entrypoint  docker/entrypoint.sh's config making: key files with and
#             without IDs, the agent ring, the Python agent's path, refusals
#   shell     shellcheck of the deployment scripts
#
# Installs what it needs (apt: docker-compose, systemd, nftables, iproute2,
# and shellcheck; pip: yamllint and kubernetes-validate in a venv under
# ${XDG_CACHE_HOME:-~/.cache}/kith-check-deploy). Needs root (apt, network
# namespaces). Everything else lives in a temporary directory, removed at the end.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kith-check-deploy.XXXXXX")
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
rootfs=$tmp/rootfs
passed=0
failed=0
failures=()

note() { printf '    %s\n' "$*"; }

# run_check NAME FUNCTION: runs FUNCTION in a subshell with set -e, output indented.
run_check() {
    local name=$1 fn=$2 started status
    printf '==> %s\n' "$name"
    started=$(date +%s)
    ( set -euo pipefail; "$fn" ) 2>&1 | sed -u 's/^/    /'
    status=${PIPESTATUS[0]}
    if [ "$status" -eq 0 ]; then
        printf 'PASS %s (%d s)\n' "$name" "$(( $(date +%s) - started ))"
        passed=$((passed + 1))
    else
        printf 'FAIL %s (%d s)\n' "$name" "$(( $(date +%s) - started ))"
        failed=$((failed + 1))
        failures+=("$name")
    fi
}

# ------------------------------------------------------------------ tools
install_tools() {
    [ "$(id -u)" -eq 0 ] || { echo "check-deploy.sh needs root (apt-get, network namespaces)"; return 1; }
    local need=()
    command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
    command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
    command -v nft >/dev/null 2>&1 || need+=(nftables)
    command -v ip >/dev/null 2>&1 || need+=(iproute2)
    command -v unshare >/dev/null 2>&1 || need+=(util-linux)
    command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
    if [ ${#need[@]} -gt 0 ]; then
        echo "apt-get install ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    venv=${XDG_CACHE_HOME:-$HOME/.cache}/kith-check-deploy/venv
    if ! "$venv/bin/python" -c 'import yaml, kubernetes_validate' 2>/dev/null \
        || ! [ -x "$venv/bin/yamllint" ] || ! [ -x "$venv/bin/kubernetes-validate" ]; then
        echo "pip install yamllint kubernetes-validate (venv $venv)"
        rm -rf "$venv"
        if ! python3 -m venv "$venv" 2>/dev/null; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            /usr/bin/python3 -m venv "$venv"
        fi
        "$venv/bin/pip" install -q yamllint kubernetes-validate
    fi
    echo "docker-compose $(docker-compose version --short), $(systemd-analyze --version | head -n 1)," \
        "$("$venv/bin/yamllint" --version), kubernetes-validate $("$venv/bin/kubernetes-validate" --version 2>&1 | tail -n 1)"
}
venv=${XDG_CACHE_HOME:-$HOME/.cache}/kith-check-deploy/venv
yamllint_config='{extends: default, rules: {line-length: {max: 120}, document-start: disable}}'

# ------------------------------------------------------------------ build
check_build() {
    if [ -n "${KITH_SKIP_RUNTIME_ROOTFS:-}" ]; then
        echo "KITH_SKIP_RUNTIME_ROOTFS is set: the runtime stage is not replayed in a chroot"
        scripts/docker-build-steps.sh --rootfs-out "$rootfs"
    else
        scripts/docker-build-steps.sh --runtime-rootfs --rootfs-out "$rootfs"
    fi
}

# Throwaway keys made by the staged kithctl, in the layout docker/secrets uses.
make_secrets() {
    local dir=$1
    mkdir -p "$dir"
    chmod 0700 "$dir"
    "$rootfs/usr/local/bin/kithctl" keygen --key "$dir/operator.key" >/dev/null 2>&1
    "$rootfs/usr/local/bin/kithctl" keys generate > "$dir/cluster.key"
}

have_rootfs() {
    [ -x "$rootfs/usr/local/bin/kithd" ] || { echo "needs the staged binaries of the build check, which failed"; return 1; }
}

# ---------------------------------------------------------------- compose
check_compose() {
    have_rootfs
    make_secrets "$tmp/secrets"
    "$venv/bin/yamllint" -s -d "$yamllint_config" docker/compose.yaml
    echo "yamllint docker/compose.yaml: ok"
    local variant assignments
    for variant in "" "KITH_NET_FAULTS=nft KITH_AGENT_KIND=python KITH_AGENTS=3 KITH_AGENT_POLICY=relaunch-and-mask"; do
        read -r -a assignments <<<"$variant"
        env KITH_SECRETS_DIR="$tmp/secrets" "${assignments[@]}" docker-compose -f docker/compose.yaml config > "$tmp/compose.resolved.yaml"
        echo "docker-compose config${variant:+ with $variant}: ok"
        "$venv/bin/python" - "$tmp/compose.resolved.yaml" "$repo" "${assignments[@]}" <<'PY'
import os, sys, yaml
path, repo, assignments = sys.argv[1], sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])
doc = yaml.safe_load(open(path))
problems = []
def need(condition, message):
    if not condition:
        problems.append(message)

services = doc.get("services", {})
nodes = ["n1", "n2", "n3", "n4", "n5"]
need(sorted(services) == sorted(nodes + ["coordinator"]), "services are %s" % sorted(services))
secrets = doc.get("secrets", {})
for name, secret in secrets.items():
    need(os.path.isfile(secret.get("file", "")), "secret %s: file %s does not exist" % (name, secret.get("file")))
need(set(secrets) == {"operator_key", "operator_pub", "cluster_key"}, "secrets are %s" % sorted(secrets))
expected = {"KITH_AGENTS": assignments.get("KITH_AGENTS", "2"),
            "KITH_AGENT_POLICY": assignments.get("KITH_AGENT_POLICY", "relaunch"),
            "KITH_AGENT_KIND": assignments.get("KITH_AGENT_KIND", "swift"),
            "KITH_NET_FAULTS": assignments.get("KITH_NET_FAULTS", "kithctl"),
            "KITH_LISTEN": "0.0.0.0:7946", "KITH_CONTROL": "0.0.0.0:7400", "KITH_JOIN": "n1:7946,n2:7946",
            "KITH_OPERATOR_KEYS_FILE": "/run/secrets/operator_pub", "KITH_CLUSTER_KEYS_FILE": "/run/secrets/cluster_key"}
for index, name in enumerate(nodes):
    service = services.get(name, {})
    env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
    want = dict(expected, KITH_NAME=name, KITH_ADVERTISE="%s:7946" % name, KITH_NODE="%s:7400" % name,
                KITH_AGENT_GUARDS=nodes[(index + 1) % len(nodes)])
    for key, value in want.items():
        need(env.get(key) == value, "%s: %s is %r, expected %r" % (name, key, env.get(key), value))
    need(service.get("hostname") == name, "%s: hostname %r" % (name, service.get("hostname")))
    need(str(service.get("user")) in ("root", "0"), "%s: must start as root to read the 0600 secrets" % name)
    need("NET_ADMIN" in (service.get("cap_add") or []), "%s: no cap_add NET_ADMIN" % name)
    need(sorted(s if isinstance(s, str) else s.get("source") for s in service.get("secrets", [])) == ["cluster_key", "operator_pub"],
         "%s: secrets %r" % (name, service.get("secrets")))
    need("kith" in (service.get("networks") or {}), "%s: not on the kith network" % name)
    test = (service.get("healthcheck") or {}).get("test")
    need(test == ["CMD", "kith-entrypoint", "health"], "%s: healthcheck %r" % (name, test))
    build = service.get("build") or {}
    need(os.path.isfile(os.path.join(build.get("context", ""), build.get("dockerfile", ""))),
         "%s: build context/dockerfile %r does not exist" % (name, build))
coordinator = services.get("coordinator", {})
cenv = coordinator.get("environment") or {}
need(coordinator.get("command") == ["coordinator"], "coordinator: command %r" % coordinator.get("command"))
need(cenv.get("KITH_NODE") == "n1:7400", "coordinator: KITH_NODE %r" % cenv.get("KITH_NODE"))
need(str(cenv.get("KITH_OPERATOR_KEY", "")).startswith("/var/lib/kith/"), "coordinator: KITH_OPERATOR_KEY outside its volume")
need([s if isinstance(s, str) else s.get("source") for s in coordinator.get("secrets", [])] == ["operator_key"],
     "coordinator: secrets %r" % coordinator.get("secrets"))
for problem in problems:
    print("PROBLEM: " + problem)
sys.exit(1 if problems else 0)
PY
    done
    echo "resolved services, environment, secrets, healthchecks: ok"
    # docker-compose 1.29 does not check that secret files exist; the check above does.
    if KITH_SECRETS_DIR="$tmp/no-such-dir" docker-compose -f docker/compose.yaml config >/dev/null 2>&1; then
        echo "(docker-compose config does not notice missing secret files: hence the explicit check)"
    fi
}

# ---------------------------------------------------------------- systemd
check_systemd() {
    have_rootfs
    local unit=deploy/systemd/kithd.service root=$tmp/systemd-root out
    mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
    cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
    cp "$rootfs/usr/local/bin/kithd" "$root/usr/local/bin/kithd"
    cp "$unit" "$root/etc/systemd/system/kithd.service"
    out=$(systemd-analyze verify --root="$root" kithd.service 2>&1) || { echo "$out"; echo "systemd-analyze verify failed"; return 1; }
    [ -z "$out" ] || { echo "$out"; echo "systemd-analyze verify printed warnings"; return 1; }
    echo "systemd-analyze verify --root=SCRATCH kithd.service: ok, no warnings"
    local missing=()
    for directive in 'User=kith' 'DynamicUser=no' 'ProtectSystem=strict' 'ReadWritePaths=/var/lib/kith' 'ProtectHome=yes' \
                     'NoNewPrivileges=yes' 'PrivateTmp=yes' 'Restart=on-failure' 'RestartSec=' 'LimitNOFILE=' \
                     'KillMode=mixed' 'TimeoutStopSec=' 'ExecStart=/usr/local/bin/kithd --config /etc/kith/kithd.json'; do
        grep -q "^$directive" "$unit" || missing+=("$directive")
    done
    [ ${#missing[@]} -eq 0 ] || { echo "missing: ${missing[*]}"; return 1; }
    echo "hardening and restart directives present"
    out=$(systemd-analyze security --offline=yes --root="$root" kithd.service 2>&1 | tail -n 1)
    local score
    score=$(sed -n 's/.*exposure level for kithd.service: \([0-9.]*\).*/\1/p' <<<"$out")
    [ -n "$score" ] || { echo "$out"; echo "no exposure score"; return 1; }
    echo "systemd-analyze security: exposure $score"
    awk -v s="$score" 'BEGIN { exit !(s <= 4.0) }' || { echo "exposure $score is above 4.0"; return 1; }
}

# -------------------------------------------------------------------- k8s
check_k8s() {
    local files=(deploy/k8s/*.yaml) template=deploy/k8s/secret.yaml.template
    [ -f "$template" ] || { echo "no $template"; return 1; }
    "$venv/bin/yamllint" -s -d "$yamllint_config" "${files[@]}" "$template"
    echo "yamllint: ok"
    cp "$template" "$tmp/secret-template.yaml"
    "$venv/bin/kubernetes-validate" --strict --quiet "${files[@]}" "$tmp/secret-template.yaml"
    echo "kubernetes-validate --strict ($("$venv/bin/kubernetes-validate" --version 2>&1 | tail -n 1)): ok"
    "$venv/bin/python" - "$template" "${files[@]}" <<'PY'
import sys, yaml
template, files = sys.argv[1], sys.argv[2:]
objects = []
for path in [template] + files:
    for doc in yaml.safe_load_all(open(path)):
        if doc:
            objects.append((path, doc))
problems = []
def need(condition, message):
    if not condition:
        problems.append(message)
by_kind = {}
for path, doc in objects:
    for field in ("apiVersion", "kind", "metadata"):
        need(field in doc, "%s: no %s" % (path, field))
    need("namespace" not in doc.get("metadata", {}), "%s: names a namespace (the manifests are namespace-agnostic)" % path)
    by_kind.setdefault(doc.get("kind"), []).append(doc)
for kind in ("Service", "StatefulSet", "Secret", "ConfigMap"):
    need(len(by_kind.get(kind, [])) == 1, "expected one %s, found %d" % (kind, len(by_kind.get(kind, []))))
if not problems:
    service, sts = by_kind["Service"][0], by_kind["StatefulSet"][0]
    secret, configmap = by_kind["Secret"][0], by_kind["ConfigMap"][0]
    need(service["spec"].get("clusterIP") == "None", "Service is not headless")
    need(service["spec"].get("publishNotReadyAddresses") is True, "Service must publish not-ready addresses (pods join before ready)")
    need(sts["spec"]["serviceName"] == service["metadata"]["name"], "StatefulSet serviceName is not the headless Service")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    selector = sts["spec"]["selector"]["matchLabels"]
    need(all(labels.get(k) == v for k, v in selector.items()), "StatefulSet selector does not match its pod labels")
    need(all(labels.get(k) == v for k, v in service["spec"]["selector"].items()), "Service selector does not match the pods")
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    need(ports == {"gossip": 7946, "control": 7400}, "container ports %r" % ports)
    need({p["targetPort"] for p in service["spec"]["ports"]} == set(ports), "Service targetPorts do not name the container ports")
    probe = container.get("readinessProbe", {}).get("tcpSocket", {})
    need(probe.get("port") in ("control", 7400), "readinessProbe is not a tcpSocket on the control port: %r" % container.get("readinessProbe"))
    env = {e["name"]: e for e in container["env"]}
    for name in ("KITH_NAME", "KITH_LISTEN", "KITH_ADVERTISE", "KITH_CONTROL", "KITH_JOIN",
                 "KITH_OPERATOR_KEYS_FILE", "KITH_CLUSTER_KEYS_FILE"):
        need(name in env, "container env lacks %s" % name)
    need(env.get("KITH_CONTROL", {}).get("value", "").startswith("$(POD_IP)"), "KITH_CONTROL must be the pod's own address")
    need(sts["metadata"]["name"] + "-0." + service["metadata"]["name"] in env.get("KITH_JOIN", {}).get("value", ""),
         "KITH_JOIN does not name the StatefulSet's pods through the headless Service")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    keys = volumes.get("keys", {}).get("secret", {})
    need(keys.get("secretName") == secret["metadata"]["name"], "the keys volume does not mount Secret %s" % secret["metadata"]["name"])
    for var in ("KITH_OPERATOR_KEYS_FILE", "KITH_CLUSTER_KEYS_FILE"):
        value = env.get(var, {}).get("value", "")
        directory, _, key = value.rpartition("/")
        need(directory == mounts.get("keys"), "%s is not in the keys mount" % var)
        need(key in secret.get("stringData", {}), "%s names key %r, which the Secret lacks" % (var, key))
    need(mounts.get("data") == "/var/lib/kith" and any(t["metadata"]["name"] == "data" for t in sts["spec"].get("volumeClaimTemplates", [])),
         "the data directory is not a volume claim")
    refs = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
    need(refs == [configmap["metadata"]["name"]], "envFrom %r does not use ConfigMap %s" % (refs, configmap["metadata"]["name"]))
    need(all(k.startswith("KITH_") for k in configmap.get("data", {})), "ConfigMap keys must be KITH_ settings")
    need(all("REPLACE_WITH_" in v for v in secret.get("stringData", {}).values()), "the Secret template must hold placeholders only")
    security = pod.get("securityContext", {})
    need(security.get("runAsNonRoot") is True and security.get("runAsUser") == 10001, "pods must run as the image's kith user (10001)")
for problem in problems:
    print("PROBLEM: " + problem)
sys.exit(1 if problems else 0)
PY
    echo "cross-references (Service, StatefulSet, probes, Secret, ConfigMap, no namespace): ok"
}

# ---------------------------------------------------------------- configs
check_configs() {
    have_rootfs
    /usr/bin/python3 - "$repo" deploy/config/n*.json <<'PY'
import ipaddress, json, re, sys
repo, paths = sys.argv[1], sys.argv[2:]
source = open(repo + "/Sources/KithNode/NodeConfig.swift").read()
apply_key = source[source.index("mutating func apply(key:"):source.index("public func validate()")]
node_keys = set(re.findall(r'"([a-z_]+)"', " ".join(re.findall(r'case ((?:"[a-z_]+",?\s*)+):', apply_key)))) | {"membership"}
agent_source = open(repo + "/Sources/KithNode/AgentSpec+JSON.swift").read()
agent_keys = set(re.findall(r'"([a-z_]+)"', agent_source[agent_source.index("let known"):agent_source.index("if let unknown")]))
membership_source = open(repo + "/Sources/KithNode/MembershipSettings+JSON.swift").read()
membership_keys = set(re.findall(r'case "([a-z_]+)":', membership_source)) - {"lan", "wan"} | {"preset"}
print("kithd accepts: %s; agents: %s" % (", ".join(sorted(node_keys)), ", ".join(sorted(agent_keys))))
problems = []
configs = {}
for path in paths:
    try:
        config = json.load(open(path))
    except ValueError as error:
        problems.append("%s: not JSON: %s" % (path, error))
        continue
    configs[path] = config
    for key in set(config) - node_keys:
        problems.append("%s: unknown key %r" % (path, key))
    for key in set(config.get("membership", {})) - membership_keys:
        problems.append("%s: unknown membership key %r" % (path, key))
    for agent in config.get("agents", []):
        for key in set(agent) - agent_keys:
            problems.append("%s: agent %s: unknown key %r" % (path, agent.get("name"), key))
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
    echo "keys, consistency, placeholders: ok"

    # The three configs, run: in a private network namespace, 10.0.0.N -> 127.0.0.N.
    local dir=$tmp/three-hosts
    mkdir -p "$dir"
    make_secrets "$dir/keys"
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
}

# --------------------------------------------------------------- netfault
check_netfault() {
    cat > "$tmp/netfault-test.sh" <<'EOF'
set -euo pipefail
nf=$1
ip link set lo up
/usr/bin/python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.2", 9999)); s.listen(16)
while True:
    c, _ = s.accept(); c.close()' &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 0.3
probe() { /usr/bin/python3 -c '
import socket
s = socket.socket(); s.settimeout(0.7)
try:
    s.connect(("127.0.0.2", 9999)); print("open")
except OSError:
    print("dropped")'; }
expect() { local got; got=$(probe); [ "$got" = "$1" ] || { echo "after $2: connect $got, expected $1"; exit 1; }; echo "after $2: $got"; }
expect open "start"
if KITH_NET_FAULTS=kithctl "$nf" drop 127.0.0.2 >/dev/null 2>&1; then echo "drop ran without KITH_NET_FAULTS=nft"; exit 1; fi
echo "refuses without KITH_NET_FAULTS=nft: ok"
export KITH_NET_FAULTS=nft
"$nf" init && "$nf" init
"$nf" drop 127.0.0.2 >/dev/null;        expect dropped "drop"
shown=$("$nf" show); grep -q 127.0.0.2 <<<"$shown" || { echo "show does not list the address: $shown"; exit 1; }
"$nf" heal 127.0.0.2 >/dev/null;        expect open "heal 127.0.0.2"
"$nf" drop --out 127.0.0.2 >/dev/null;  expect dropped "drop --out"
"$nf" heal >/dev/null;                  expect open "heal"
"$nf" drop localhost >/dev/null && "$nf" heal >/dev/null
echo "names resolve: ok"
EOF
    unshare -n bash "$tmp/netfault-test.sh" "$repo/docker/netfault.sh"
}

# ------------------------------------------------------------- entrypoint
check_entrypoint() {
    have_rootfs
    local ep=$rootfs/usr/local/bin/kith-entrypoint keys=$tmp/ep-keys out
    # The image's PATH (Docker's default): Debian's python3, as in the image.
    local image_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    cmp -s docker/entrypoint.sh "$ep" || { echo "the staged entrypoint is not docker/entrypoint.sh"; return 1; }
    sh -n docker/entrypoint.sh && sh -n docker/netfault.sh
    mkdir -p "$keys"
    printf '%s\n' "$(printf 'a%.0s' $(seq 64))" > "$keys/pub"
    printf '# rotated\n3:%s\n%s\n' "$(printf 'b%.0s' $(seq 64))" "$(printf 'c%.0s' $(seq 64))" > "$keys/cluster"
    out=$(env -i PATH="$image_path" KITH_NAME=n2 KITH_LISTEN=127.0.0.1:1 KITH_CONTROL=127.0.0.1:2 KITH_DATA_DIR="$tmp/ep-data" \
          KITH_OPERATOR_KEYS_FILE="$keys/pub" KITH_CLUSTER_KEYS_FILE="$keys/cluster" KITH_CLUSTER_KEYS="" \
          KITH_AGENTS=3 KITH_AGENT_GUARDS=n3 KITH_AGENT_KIND=python KITH_AGENT_POLICY=relaunch-and-mask \
          KITH_TAGS="zone=a,rack=r2" "$ep" config)
    /usr/bin/python3 - "$rootfs" <<PY
import json, os, sys
config = json.loads('''$out''')
assert config["cluster_keys"] == ["3:<redacted>", "1:<redacted>"], config["cluster_keys"]
assert config["operator_keys"] == ["a" * 64], config["operator_keys"]
assert config["tags"] == {"zone": "a", "rack": "r2"}, config["tags"]
agents = config["agents"]
assert [a["name"] for a in agents] == ["n2-a1", "n2-a2", "n2-a3"], agents
assert all(a["protects"] == ["n3-a1", "n3-a2", "n3-a3"] and a["policy"] == "relaunch-and-mask" for a in agents), agents
command = agents[0]["command"]
assert command == sys.argv[1] + "/usr/local/lib/kith/agents/guardian.py" and os.access(command, os.X_OK), command
assert "advertise" not in config and config["control"] == "127.0.0.1:2"
PY
    echo "config: key files with and without IDs, tags, a python agent ring: ok"
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
    local bad expect err status
    for bad in "KITH_AGENT_POLICY=sometimes:KITH_AGENT_POLICY" "KITH_AGENT_KIND=ruby:KITH_AGENT_KIND" \
               "KITH_AGENTS=many:KITH_AGENTS" "KITH_LISTEN=nowhere:KITH_LISTEN" "KITH_NET_FAULTS=iptables:KITH_NET_FAULTS"; do
        expect=${bad##*:}
        bad=${bad%:*}
        status=0
        err=$(env -i PATH="$image_path" KITH_NAME=n1 KITH_DATA_DIR="$tmp/ep-data" KITH_USER=nobody KITH_AGENTS=1 \
              KITH_LISTEN=127.0.0.1:1 KITH_CONTROL=127.0.0.1:2 "$bad" timeout 5 "$ep" kithd 2>&1 >/dev/null) || status=$?
        if [ "$status" -ne 2 ] || ! grep -q "$expect" <<<"$err"; then
            echo "with $bad: exit $status, expected 2 naming $expect: $err"; return 1
        fi
    done
    echo "refuses bad settings (policy, kind, count, address, net faults mode): ok"
}

# ------------------------------------------------------------------ shell
check_shell() {
    shellcheck -x docker/entrypoint.sh docker/netfault.sh scripts/docker-build-steps.sh scripts/check-deploy.sh
    echo "shellcheck: ok"
}

# -------------------------------------------------------------------- run
run_check tools install_tools
run_check build check_build
run_check compose check_compose
run_check systemd check_systemd
run_check k8s check_k8s
run_check configs check_configs
run_check netfault check_netfault
run_check entrypoint check_entrypoint
run_check shell check_shell

if [ "$failed" -gt 0 ]; then
    echo "check-deploy: FAILED: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
