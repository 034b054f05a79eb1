#!/bin/sh
# kith-entrypoint: the image's entrypoint (installed as /usr/local/bin/kith-entrypoint).
#
#   kith-entrypoint [kithd] [KITHD_FLAGS...]   run kithd (the default command); flags override the config
#   kith-entrypoint coordinator                an operator container: installs the operator key, then idles
#   kith-entrypoint config                     print the generated part of kithd's config (keys redacted)
#   kith-entrypoint check                      kithd --check of the config the environment makes
#   kith-entrypoint health [PATH]              exit 0 when this container's kithd answers GET PATH (default
#                                              /readyz) with 200 on KITH_HTTP, or, without KITH_HTTP,
#                                              answers `kithctl status`
#   kith-entrypoint COMMAND [ARGS...]          run anything else as is (kithctl members, sh, ...)
#
# kithd's config is either KITH_CONFIG (a complete JSON file, used as is) or
# made from the environment in two parts. The entrypoint writes what needs this
# container's knowledge or root to $KITH_DATA_DIR/kithd.generated.json (mode 0600):
#   KITH_NAME            member name (default: the hostname)
#   KITH_LISTEN          gossip address (default 0.0.0.0:7946)
#   KITH_ADVERTISE       gossip address peers dial (default: the FQDN and the listen port,
#                        when listening on 0.0.0.0)
#   KITH_CONTROL         control address (default 0.0.0.0:7400). kithd tells every member
#                        its control address as given and kithctl dials those to reach the
#                        whole cluster, so an unspecified host (0.0.0.0) is replaced by this
#                        container's own IP address.
#   KITH_DATA_DIR        data directory (default /var/lib/kith)
#   KITH_OPERATOR_KEYS   operator public keys, hex, comma-separated; and/or
#   KITH_OPERATOR_KEYS_FILE  a file of them, one per line (kithctl keygen's KEY.pub)
#   KITH_CLUSTER_KEYS    cluster keys ID:HEX, comma-separated, the first signs; and/or
#   KITH_CLUSTER_KEYS_FILE   a file of them, one per line; a bare HEX line (kithctl keys
#                        generate) gets the next free ID, starting at 1
#                        (key files are read as root, before kithd drops privileges)
# and kithd reads every other config key from its own variable (kithd
# --config-from-env: KITH_ and the key in capitals, see README.md), e.g.
#   KITH_JOIN            seeds, HOST:PORT,...
#   KITH_CAPACITY, KITH_LOG_LEVEL, KITH_RELAUNCH_QUORUM   as the config keys
#   KITH_TAGS            KEY=VALUE,...
# Both parts are checked by `kithd --check` before kithd starts: a bad value
# stops the container with kithd's own words and exit status 2.
#   KITH_AGENTS          K reference agents on this node, named NAME-a1..NAME-aK (default 0)
#   KITH_AGENT_GUARDS    the node whose agents these protect (its NAME-a1..NAME-aK)
#   KITH_AGENT_POLICY    none | relaunch | relaunch-and-mask (default relaunch)
#   KITH_AGENT_KIND      swift (kith-agent, default) | python (guardian.py)
#   KITH_AGENT_INTERVAL_MS   the agents' ping and checkpoint interval (default 500)
#   KITH_NET_FAULTS      kithctl (default) | nft: with nft, the nft table kith-netfault
#                        uses is created at start (needs NET_ADMIN), else kith-netfault refuses
#   KITH_USER            started as root, run kithd as this user (default kith), with no
#                        capabilities and no_new_privs, after reading the secrets
# Coordinator:
#   KITH_OPERATOR_KEY_SECRET  where the operator's secret key is mounted
#                        (default /run/secrets/operator_key); copied to KITH_OPERATOR_KEY
#                        (default /var/lib/kith/operator/operator.key) so that the
#                        signing counter kithctl keeps beside it survives restarts.
set -eu

here=$(dirname "$(readlink -f "$0")")
bin=$here
data_dir=${KITH_DATA_DIR:-/var/lib/kith}
generated=$data_dir/kithd.generated.json
run_as=${KITH_USER:-kith}

log() { printf 'kith-entrypoint: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Writes kithd's config made from the environment to stdout. $1: "redact" to hide keys.
make_config() {
    python3 - "$bin" "${1:-}" <<'PY'
import json, os, re, socket, sys

bindir, redact = sys.argv[1], sys.argv[2] == "redact"
env = os.environ

def fail(message):
    sys.stderr.write("kith-entrypoint: error: %s\n" % message)
    sys.exit(2)

def host_port(text, what):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        fail("%s must be HOST:PORT, got %r" % (what, text))
    return host.strip("[]"), port

def listed(text):
    return [item.strip() for item in re.split(r"[,\s]+", text or "") if item.strip()]

def file_lines(path, what):
    if not path:
        return []
    try:
        with open(path) as handle:
            return [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    except OSError as error:
        fail("cannot read %s file %s: %s" % (what, path, error.strerror))

config = {}
config["name"] = env.get("KITH_NAME") or socket.gethostname()
config["listen"] = env.get("KITH_LISTEN") or "0.0.0.0:7946"
listen_host, listen_port = host_port(config["listen"], "KITH_LISTEN")
unspecified = ("0.0.0.0", "::")
if env.get("KITH_ADVERTISE"):
    config["advertise"] = env["KITH_ADVERTISE"]
elif listen_host in unspecified:
    config["advertise"] = "%s:%s" % (socket.getfqdn(), listen_port)

control = env.get("KITH_CONTROL") or "0.0.0.0:7400"
control_host, control_port = host_port(control, "KITH_CONTROL")
if control_host in unspecified:
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        address = ""
    if address and not address.startswith("127."):
        sys.stderr.write("kith-entrypoint: control %s: binding %s:%s instead, the address the other "
                         "members and kithctl can dial\n" % (control, address, control_port))
        control = "%s:%s" % (address, control_port)
    else:
        sys.stderr.write("kith-entrypoint: warning: control %s: no address of this host found; "
                         "kithctl cannot fan out through it\n" % control)
config["control"] = control

config["data_dir"] = env.get("KITH_DATA_DIR") or "/var/lib/kith"

operator_keys = listed(env.get("KITH_OPERATOR_KEYS")) + file_lines(env.get("KITH_OPERATOR_KEYS_FILE"), "operator key")
if operator_keys:
    config["operator_keys"] = operator_keys

cluster_keys, used = [], set()
entries = listed(env.get("KITH_CLUSTER_KEYS")) + file_lines(env.get("KITH_CLUSTER_KEYS_FILE"), "cluster key")
for entry in entries:
    if ":" in entry:
        used.add(entry.split(":", 1)[0])
for entry in entries:
    if ":" not in entry:
        next_id = next(str(i) for i in range(1, 256) if str(i) not in used)
        used.add(next_id)
        entry = "%s:%s" % (next_id, entry)
    cluster_keys.append(entry)
if cluster_keys:
    config["cluster_keys"] = ["%s:<redacted>" % k.split(":", 1)[0] for k in cluster_keys] if redact else cluster_keys

count = env.get("KITH_AGENTS") or "0"
if not count.isdigit() or int(count) > 256:
    fail("KITH_AGENTS must be a whole number 0...256, got %r" % count)
count = int(count)
if count:
    policy = env.get("KITH_AGENT_POLICY") or "relaunch"
    if policy not in ("none", "relaunch", "relaunch-and-mask"):
        fail("KITH_AGENT_POLICY must be none, relaunch or relaunch-and-mask, got %r" % policy)
    kind = env.get("KITH_AGENT_KIND") or "swift"
    if kind == "swift":
        command = os.path.join(bindir, "kith-agent")
    elif kind == "python":
        command = os.path.normpath(os.path.join(bindir, "..", "lib", "kith", "agents", "guardian.py"))
    else:
        fail("KITH_AGENT_KIND must be swift or python, got %r" % kind)
    interval = env.get("KITH_AGENT_INTERVAL_MS") or "500"
    guarded = env.get("KITH_AGENT_GUARDS") or ""
    agents = []
    for index in range(1, count + 1):
        name = "%s-a%d" % (config["name"], index)
        protects = [p for p in ("%s-a%d" % (guarded, j) for j in range(1, count + 1)) if guarded and p != name]
        args = ["--policy", policy]
        if protects:
            args += ["--protects", ",".join(protects)]
        args += ["--interval-ms", interval]
        agents.append({"name": name, "command": command, "args": args, "protects": protects, "policy": policy})
    config["agents"] = agents

json.dump(config, sys.stdout, indent=2, sort_keys=True)
sys.stdout.write("\n")
PY
}

# Creates the nft table kith-netfault fills, or explains why it cannot.
prepare_net_faults() {
    case ${KITH_NET_FAULTS:-kithctl} in
        kithctl) ;;
        nft)
            is_root || die "KITH_NET_FAULTS=nft needs the container started as root (user: root) with cap_add NET_ADMIN"
            "$bin/kith-netfault" init || die "KITH_NET_FAULTS=nft: cannot set up nftables (is NET_ADMIN granted?)"
            log "KITH_NET_FAULTS=nft: kith-netfault can drop packets (docker compose exec -u root NODE kith-netfault drop PEER...)"
            ;;
        *) die "KITH_NET_FAULTS must be kithctl or nft, got '${KITH_NET_FAULTS}'" ;;
    esac
}

# Replaces this shell with "$@" without the variables make_config has consumed, so that
# kithd --config-from-env takes only the others (never overriding the derived addresses,
# never seeing the key files' paths).
exec_without_consumed() {
    exec env -u KITH_NAME -u KITH_LISTEN -u KITH_ADVERTISE -u KITH_CONTROL -u KITH_DATA_DIR \
        -u KITH_OPERATOR_KEYS -u KITH_OPERATOR_KEYS_FILE -u KITH_CLUSTER_KEYS -u KITH_CLUSTER_KEYS_FILE "$@"
}

# Writes the generated config (unless KITH_CONFIG names one) and sets $config and $from_env.
prepare_config() {
    if [ -n "${KITH_CONFIG:-}" ]; then
        config=$KITH_CONFIG
        from_env=
    else
        mkdir -p "$data_dir"
        if is_root; then chown "$run_as:" "$data_dir"; fi
        # kithd keeps its agents' sockets and working directories beside the data directory
        # (DATA-agents); made here because its parent may be root's (/var/lib).
        if is_root; then mkdir -p "$data_dir-agents" && chown "$run_as:" "$data_dir-agents"; fi
        umask 077
        make_config > "$generated.tmp"
        mv "$generated.tmp" "$generated"
        if is_root; then chown "$run_as:" "$generated"; fi
        config=$generated
        from_env=--config-from-env
    fi
}

# kithd --check of the config kithd would run with; kithd names every problem.
check_config() {
    # shellcheck disable=SC2086 # $from_env is one flag or none
    ( exec_without_consumed "$bin/kithd" --check --config "$config" $from_env "$@" )
}

run_kithd() {
    prepare_config
    check_config "$@" >/dev/null || die "kithd refused the configuration (above)"
    prepare_net_faults
    if is_root; then
        # The secrets are read; kithd and its agents need no privilege at all.
        # shellcheck disable=SC2086
        exec_without_consumed setpriv --reuid="$run_as" --regid="$(id -g "$run_as")" --init-groups --inh-caps=-all \
            --bounding-set=-all --no-new-privs -- "$bin/kithd" --config "$config" $from_env "$@"
    fi
    # shellcheck disable=SC2086
    exec_without_consumed "$bin/kithd" --config "$config" $from_env "$@"
}

run_coordinator() {
    secret=${KITH_OPERATOR_KEY_SECRET:-/run/secrets/operator_key}
    key=${KITH_OPERATOR_KEY:-$data_dir/operator/operator.key}
    export KITH_OPERATOR_KEY="$key"
    if [ -r "$secret" ]; then
        mkdir -p "$(dirname "$key")"
        chmod 0700 "$(dirname "$key")"
        if ! cmp -s "$secret" "$key"; then
            # A different key starts its own counter (as kithctl keygen does).
            rm -f "$key.counter" "$key.counter.lock"
            (umask 077 && cp "$secret" "$key.tmp" && mv "$key.tmp" "$key")
            if [ -r "$secret.pub" ]; then cp "$secret.pub" "$key.pub"; fi
        fi
        log "operator key installed at $key; kithctl signs with it (KITH_OPERATOR_KEY)"
    else
        log "warning: no operator key at $secret; read-only kithctl commands only"
    fi
    log "coordinator ready: docker compose exec coordinator kithctl members (KITH_NODE=${KITH_NODE:-unset})"
    trap 'exit 0' TERM INT
    while :; do
        sleep 3600 &
        wait $! || true
    done
}

health() {
    if [ -n "${KITH_HTTP:-}" ]; then
        exec python3 - "$KITH_HTTP" "${1:-/readyz}" <<'EOF'
import sys, urllib.request
host, _, port = sys.argv[1].rpartition(":")
host = host.strip("[]")
if host in ("", "0.0.0.0", "::"):
    host = "127.0.0.1"
if ":" in host:
    host = "[%s]" % host
try:
    with urllib.request.urlopen("http://%s:%s%s" % (host, port, sys.argv[2]), timeout=3) as reply:
        sys.exit(0 if reply.status == 200 else 1)
except Exception as error:
    print("kith-entrypoint: health: %s" % error, file=sys.stderr)
    sys.exit(1)
EOF
    fi
    config=${KITH_CONFIG:-$generated}
    [ -r "$config" ] || die "no config at $config (is kithd running here?)"
    control=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["control"])' "$config")
    exec "$bin/kithctl" --node "$control" status >/dev/null
}

case ${1:-kithd} in
    kithd) [ $# -gt 0 ] && shift; run_kithd "$@" ;;
    -*) run_kithd "$@" ;;
    coordinator) run_coordinator ;;
    config) make_config redact ;;
    check) prepare_config && check_config ;;
    health) shift; health "$@" ;;
    *) exec "$@" ;;
esac
