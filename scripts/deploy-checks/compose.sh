#!/usr/bin/env bash
# deploy check 'compose': `docker-compose config` (Debian's docker-compose 1.29) on docker/compose.yaml with
# throwaway keys, then the resolved file checked: five nodes that advertise and guard as
# documented, secrets that exist, healthchecks, the coordinator; yamllint.
# shellcheck source=scripts/deploy-checks/lib.sh
. "$(dirname "$0")/lib.sh"

have_rootfs
make_secrets "$tmp/secrets"
"$venv/bin/yamllint" -s -d "$yamllint_config" docker/compose.yaml
echo "yamllint docker/compose.yaml: ok"
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
            "KITH_LISTEN": "0.0.0.0:7946", "KITH_CONTROL": "0.0.0.0:7400", "KITH_HTTP": "0.0.0.0:7480", "KITH_JOIN": "n1:7946,n2:7946",
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
