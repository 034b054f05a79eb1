#!/usr/bin/env bash
# deploy check 'k8s': yamllint; kubernetes-validate --strict (offline schemas) of every manifest and of the
# Secret template; cross-references: Service/StatefulSet/labels, probes on the http
# port, Secret and ConfigMap names and keys, no namespace.
# shellcheck source=scripts/deploy-checks/lib.sh
. "$(dirname "$0")/lib.sh"

files=(deploy/k8s/*.yaml)
template=deploy/k8s/secret.yaml.template
[ -f "$template" ] || { echo "no $template"; exit 1; }
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
    need(ports == {"gossip": 7946, "control": 7400, "http": 7480}, "container ports %r" % ports)
    need(any(e["name"] == "KITH_HTTP" and e.get("value", "").endswith(":7480") for e in container["env"]),
         "KITH_HTTP does not serve on the http port")
    need({p["targetPort"] for p in service["spec"]["ports"]} == set(ports), "Service targetPorts do not name the container ports")
    for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        probe = container.get(kind, {}).get("httpGet", {})
        need(probe.get("port") in ("http", 7480) and probe.get("path") == path,
             "%s is not GET %s on the http port: %r" % (kind, path, container.get(kind)))
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
