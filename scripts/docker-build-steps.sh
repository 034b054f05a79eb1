#!/usr/bin/env bash
# docker/Dockerfile's build, replayed outside Docker (there is no Docker engine
# on CI's machines): the proof that the image's build steps work.
#
#   scripts/docker-build-steps.sh [--keep] [--runtime-rootfs] [--rootfs-out DIR]
#     1. Reads SWIFT_IMAGE, BUILD_PACKAGES, RUNTIME_PACKAGES, the build stage's
#        COPY lines and the ENTRYPOINT from docker/Dockerfile; checks that this
#        machine's Swift and Debian match the images' (same Swift major.minor,
#        Debian bookworm for both stages).
#     2. Installs BUILD_PACKAGES (as the build stage does) and RUNTIME_PACKAGES
#        (so that the staged programs can run here as in the image).
#     3. Copies the COPY sources (each must be allowed by
#        docker/Dockerfile.dockerignore) into a fresh build context and runs the copied
#        `scripts/docker-build-steps.sh stage` there, as the build stage's RUN
#        does, into a staging tree that stands for the runtime image's root.
#     4. Checks the staged tree: every shared library the binaries and python3
#        load (ldd) and every module guardian.py imports belongs to a Debian
#        package of debian:bookworm-slim (priority required, plus apt, with
#        their dependencies) or of RUNTIME_PACKAGES (with theirs); no Swift
#        runtime library is needed; tini, setpriv, nft and ip exist.
#     5. Runs kithd --help, kithctl help, kith-agent --help and guardian.py
#        --help from the staged tree, then the image's ENTRYPOINT as compose
#        runs it (as root, with secrets in 0600 files, dropping to an
#        unprivileged user): one kithd on 127.0.0.1 with two agents from the
#        environment, until kithctl sees them running and a signed command is
#        obeyed; then SIGTERM, which must end kithd with status 0 in 5 s.
#     6. With --runtime-rootfs, the runtime stage too: debootstrap --variant=minbase
#        (the packages debian:bookworm-slim is made of) from Debian's mirror
#        ($KITH_DEBIAN_MIRROR), the runtime stage's RUN in a chroot (apt-get
#        install, groupadd, useradd, install -d), the staged tree copied in, then
#        the ENTRYPOINT run in that chroot as USER kith and as root with 0600
#        secrets (private mount and network namespaces): kithd must run two
#        guardian.py agents on the image's own python3 and exit 0 on SIGTERM.
#        Adds about a minute and needs Debian's mirror.
#     The work directory (a temporary one) is removed unless --keep;
#     --rootfs-out DIR copies the staged tree there first (check-deploy.sh uses it).
#
#   scripts/docker-build-steps.sh stage SRC DEST
#     The build stage's own step (the Dockerfile runs this): builds kithd,
#     kithctl and kith-agent in SRC with `swift build -c release
#     --static-swift-stdlib --product P`, then installs them and the scripts
#     under DEST as the runtime image's root lays them out:
#       /usr/local/bin/{kithd,kithctl,kith-agent,kith-entrypoint,kith-netfault}
#       /usr/local/lib/kith/agents/guardian.py
#
# Exit status 0 when every step and check passed; 1 otherwise, with the reason.
set -euo pipefail

PRODUCTS=(kithd kithctl kith-agent)

say() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'docker-build-steps: FAILED: %s\n' "$*" >&2; exit 1; }

find_swift() {
    command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
    command -v swift >/dev/null 2>&1 || fail "swift is not on the PATH (nor at /opt/swift/usr/bin)"
}

# --------------------------------------------------------------------- stage
stage() {
    local src=$1 dest=$2
    find_swift
    cd "$src"
    for product in "${PRODUCTS[@]}"; do
        say "swift build -c release --static-swift-stdlib --product $product"
        swift build -c release --static-swift-stdlib --product "$product"
    done
    local built
    built=$(swift build -c release --static-swift-stdlib --show-bin-path)
    install -d -m 0755 "$dest/usr/local/bin" "$dest/usr/local/lib/kith/agents"
    for product in "${PRODUCTS[@]}"; do
        install -m 0755 "$built/$product" "$dest/usr/local/bin/$product"
    done
    install -m 0755 docker/entrypoint.sh "$dest/usr/local/bin/kith-entrypoint"
    install -m 0755 docker/netfault.sh "$dest/usr/local/bin/kith-netfault"
    install -m 0755 deploy/agents/guardian.py "$dest/usr/local/lib/kith/agents/guardian.py"
    # The Python SDK guardian.py is written on; it finds it at ../python.
    install -d -m 0755 "$dest/usr/local/lib/kith/python/kith"
    install -m 0644 python/kith/*.py "$dest/usr/local/lib/kith/python/kith/"
    say "staged under $dest:"
    (cd "$dest" && find . -type f -printf '  /%P  %s bytes\n' | sort) >&2
}

if [ "${1:-}" = stage ]; then
    [ $# -eq 3 ] || fail "usage: $0 stage SRC DEST"
    stage "$2" "$3"
    exit 0
fi

# -------------------------------------------------------------------- replay
keep=0
runtime_rootfs=0
rootfs_out=""
while [ $# -gt 0 ]; do
    case $1 in
        --keep) keep=1 ;;
        --runtime-rootfs) runtime_rootfs=1 ;;
        --rootfs-out) [ $# -ge 2 ] || fail "--rootfs-out needs a directory"; rootfs_out=$2; shift ;;
        *) echo "usage: $0 [--keep] [--runtime-rootfs] [--rootfs-out DIR] | $0 stage SRC DEST" >&2; exit 2 ;;
    esac
    shift
done

repo=$(cd "$(dirname "$0")/.." && pwd)
dockerfile=$repo/docker/Dockerfile
[ -f "$dockerfile" ] || fail "no $dockerfile"

# ARG NAME=VALUE or ARG NAME="VALUE" from the Dockerfile.
dockerfile_arg() {
    local value
    value=$(sed -n "s/^ARG $1=//p" "$dockerfile" | head -n 1)
    value=${value#\"}
    value=${value%\"}
    [ -n "$value" ] || fail "docker/Dockerfile has no 'ARG $1=...'"
    printf '%s' "$value"
}

swift_image=$(dockerfile_arg SWIFT_IMAGE)
runtime_image=$(dockerfile_arg RUNTIME_IMAGE)
read -r -a build_packages <<<"$(dockerfile_arg BUILD_PACKAGES)"
read -r -a runtime_packages <<<"$(dockerfile_arg RUNTIME_PACKAGES)"
say "Dockerfile: build FROM $swift_image with ${build_packages[*]}; runtime FROM $runtime_image with ${runtime_packages[*]}"

# --- 1. the machine matches the images
find_swift
here_swift=$(swift --version 2>&1 | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -n 1)
image_swift=$(printf '%s' "$swift_image" | sed -n 's/^swift:\([0-9][0-9.]*\).*/\1/p')
[ -n "$image_swift" ] || fail "cannot read a Swift version from SWIFT_IMAGE=$swift_image"
[ "${here_swift%.*}" = "${image_swift%.*}" ] || [ "$here_swift" = "$image_swift" ] \
    || fail "this machine has Swift $here_swift but the Dockerfile builds with $swift_image: replaying it here proves nothing; update SWIFT_IMAGE"
[ "$here_swift" = "$image_swift" ] || say "note: Swift here is $here_swift, the image's $image_swift (same minor release)"
codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
case "$swift_image $runtime_image" in
    *"$codename"*"$codename"*) ;;
    *) fail "this machine runs Debian '$codename' but the images are $swift_image and $runtime_image: the package checks need the same release" ;;
esac
say "machine: Swift $here_swift, Debian $codename"

# --- 2. apt packages
need=()
for pkg in "${build_packages[@]}" "${runtime_packages[@]}" python3-apt; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    say "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
        || fail "apt-get install ${need[*]} failed"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kith-docker-steps.XXXXXX")
chmod 0755 "$work"
kithd_pid=""
cleanup() {
    if [ -n "$kithd_pid" ] && kill -0 "$kithd_pid" 2>/dev/null; then
        kill -KILL "$kithd_pid" 2>/dev/null || true
    fi
    if [ "$keep" -eq 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# --- 3. build context and the build stage's RUN
ctx=$work/src
rootfs=$work/rootfs
mkdir -p "$ctx" "$rootfs"
say "build context: the build stage's COPY lines"
dockerignore=$dockerfile.dockerignore
awk '/^FROM /{ stage++ } stage == 1 && /^COPY / && !/--from/' "$dockerfile" > "$work/copies"
[ -s "$work/copies" ] || fail "no COPY lines in the Dockerfile's build stage"
while read -r _ args; do
    read -r -a parts <<<"$args"
    dest=${parts[-1]}
    unset 'parts[-1]'
    case $dest in /*) fail "COPY to an absolute path ($dest) is not replayed; use a path under WORKDIR" ;; esac
    mkdir -p "$ctx/$dest"
    for source in "${parts[@]}"; do
        [ -e "$repo/$source" ] || fail "COPY source $source does not exist"
        if [ -f "$dockerignore" ] && ! grep -qx "!${source%/}" "$dockerignore"; then
            fail "COPY source $source is not allowed by docker/Dockerfile.dockerignore (add !${source%/})"
        fi
        if [ -d "$repo/$source" ]; then cp -a "$repo/$source/." "$ctx/$dest/"; else cp -a "$repo/$source" "$ctx/$dest/"; fi
    done
    printf '  COPY %s\n' "$args" >&2
done < "$work/copies"
run_line=$(awk '/^FROM /{ stage++ } stage == 1 && /^RUN scripts\/docker-build-steps.sh stage /' "$dockerfile")
[ "$run_line" = "RUN scripts/docker-build-steps.sh stage /src /staging" ] \
    || fail "the build stage must RUN 'scripts/docker-build-steps.sh stage /src /staging' (found: '${run_line:-nothing}')"
say "RUN scripts/docker-build-steps.sh stage /src /staging  (here: $ctx -> $rootfs)"
started=$(date +%s)
(cd "$ctx" && scripts/docker-build-steps.sh stage "$ctx" "$rootfs") || fail "the build stage's build failed"
say "build stage done in $(( $(date +%s) - started )) s"

# --- 4. the runtime image's packages provide everything
say "checking shared libraries and Python modules against $runtime_image + ${runtime_packages[*]}"
files=()
for program in kithd kithctl kith-agent; do
    binary=$rootfs/usr/local/bin/$program
    [ -x "$binary" ] || fail "$binary was not staged"
    if readelf -d "$binary" | grep -q 'NEEDED.*libswift\|NEEDED.*libFoundation\|NEEDED.*libdispatch'; then
        fail "$program needs Swift runtime libraries (was it built with --static-swift-stdlib?)"
    fi
    out=$(env -u LD_LIBRARY_PATH ldd "$binary") || fail "ldd $program failed"
    if grep -q 'not found' <<<"$out"; then fail "$program: missing libraries: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"; fi
    printf '  %s needs:%s\n' "$program" "$(awk '/=>/ { printf " %s", $1 }' <<<"$out")" >&2
    while read -r path; do files+=("$program:$path"); done < <(awk '/=>/ { print $3 } /^\t\// { print $1 }' <<<"$out")
done
python=$(readlink -f /usr/bin/python3)
files+=("python3:$python")
while read -r path; do files+=("python3:$path"); done < <(env -u LD_LIBRARY_PATH ldd "$python" | awk '/=>/ { print $3 } /^\t\// { print $1 }')
# -S: not this machine's extra site packages (the image has none); site itself is stdlib and counted.
modules=$(cd "$work" && /usr/bin/python3 -I -S - "$rootfs/usr/local/lib/kith/agents/guardian.py" <<'PY'
import os, runpy, site, sys
sys.argv = [sys.argv[1], "--help"]
stdout = sys.stdout
sys.stdout = open(os.devnull, "w")
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as stop:
    if stop.code not in (0, None):
        raise
sys.stdout = stdout
for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None)
    # Kith's own Python (the agents and the SDK under /usr/local/lib/kith) ships in the image.
    if path and os.path.exists(path) and not path.startswith(os.path.dirname(os.path.dirname(sys.argv[0]))):
        print(os.path.realpath(path))
PY
) || fail "guardian.py --help under /usr/bin/python3 failed"
while read -r path; do files+=("guardian.py:$path"); done <<<"$modules"
for tool in /usr/bin/tini /usr/bin/setpriv /usr/sbin/nft /usr/sbin/ip /usr/bin/getent /usr/bin/python3 /usr/bin/env; do files+=("tool:$tool"); done

printf '%s\n' "${files[@]}" > "$work/files"
/usr/bin/python3 - "$work/files" "${runtime_packages[@]}" <<'PY' || fail "the runtime image would lack something (above)"
import subprocess, sys
import apt.progress.base, apt_pkg

listing, runtime = sys.argv[1], sys.argv[2:]
apt_pkg.init()
cache = apt_pkg.Cache(apt.progress.base.OpProgress())  # a silent progress
depcache = apt_pkg.DepCache(cache)
native = apt_pkg.config.find("APT::Architecture")

def closure(roots):
    """What apt installs for roots: Pre-Depends and Depends, the first satisfiable alternative."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            pkg = cache[name]
        except KeyError:
            sys.exit("no Debian package %r" % name)
        version = depcache.get_candidate_ver(pkg)
        if version is None:
            if pkg.provides_list:  # a virtual package: its first provider
                todo.append(pkg.provides_list[0][2].parent_pkg.name)
                continue
            sys.exit("Debian package %r has no installable version" % name)
        seen.add(name)
        for kind in ("PreDepends", "Depends"):
            for group in version.depends_list.get(kind, []):
                for dep in group:
                    targets = dep.all_targets()
                    if targets:
                        todo.append(targets[0].parent_pkg.name)
                        break
    return seen

base_roots = []
for pkg in cache.packages:
    if pkg.architecture not in (native, "all"):
        continue
    version = depcache.get_candidate_ver(pkg)
    if version is not None and version.priority_str == "required":
        base_roots.append(pkg.name)
base = closure(base_roots + ["apt"])
image = closure(list(base) + runtime)

entries = [line.rstrip("\n").split(":", 1) for line in open(listing) if line.strip()]
def owners(path):
    candidates = [path]
    if path.startswith("/usr/"):
        candidates.append(path[4:])
    else:
        candidates.append("/usr" + path)
    for candidate in candidates:
        result = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            found = set()
            for line in result.stdout.splitlines():
                names, _, owned = line.partition(": ")
                if owned.strip() == candidate:
                    found.update(n.strip().split(":")[0] for n in names.split(","))
            if found:
                return found
    return set()

problems, used = [], {}
for who, path in entries:
    found = owners(path)
    if not found:
        problems.append("%s: %s belongs to no Debian package" % (who, path))
    elif not found & image:
        problems.append("%s: %s comes from %s, which the runtime image would not have" % (who, path, ", ".join(sorted(found))))
    else:
        used.setdefault(who, set()).update(found & image)
for who in sorted(used):
    extra = sorted(used[who] - base)
    print("  %-12s ok: %s%s" % (who, ", ".join(sorted(used[who])),
          "" if not extra else "  (from RUNTIME_PACKAGES: %s)" % ", ".join(extra)), file=sys.stderr)
print("  debian slim base: %d packages; with RUNTIME_PACKAGES: %d" % (len(base), len(image)), file=sys.stderr)
unused = [p for p in runtime if p not in set().union(*used.values())]
if unused:
    print("  (RUNTIME_PACKAGES not checked by a file here: %s)" % ", ".join(unused), file=sys.stderr)
for problem in problems:
    print("  PROBLEM: " + problem, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# --- 5. run the staged programs
bin=$rootfs/usr/local/bin
say "running the staged programs"
"$bin/kithd" --help >/dev/null || fail "kithd --help failed"
"$bin/kithctl" help >/dev/null || fail "kithctl help failed"
"$bin/kith-agent" --help >/dev/null 2>&1 || fail "kith-agent --help failed"
/usr/bin/python3 "$rootfs/usr/local/lib/kith/agents/guardian.py" --help >/dev/null || fail "guardian.py --help failed"
printf '  kithd --help, kithctl help, kith-agent --help, guardian.py --help: ok\n' >&2

# The image's ENTRYPOINT, with its /usr/local paths pointing into the staged tree.
entrypoint=$(sed -n 's/^ENTRYPOINT //p' "$dockerfile")
mapfile -t command < <(/usr/bin/python3 -c 'import json, sys; [print(a) for a in json.loads(sys.argv[1])]' "$entrypoint") \
    || fail "ENTRYPOINT is not a JSON array: $entrypoint"
for i in "${!command[@]}"; do
    case ${command[$i]} in /usr/local/*) command[i]=$rootfs${command[$i]} ;; esac
    [ -x "${command[$i]}" ] || [ "$i" -gt 0 ] || fail "ENTRYPOINT ${command[$i]} is not executable here"
done
[ -x "${command[-1]}" ] || fail "ENTRYPOINT script ${command[-1]} was not staged"

secrets=$work/secrets
mkdir -m 0700 "$secrets"
"$bin/kithctl" keygen --key "$secrets/operator.key" >/dev/null 2>&1 || fail "kithctl keygen failed"
"$bin/kithctl" keys generate > "$secrets/cluster.key" || fail "kithctl keys generate failed"
chmod 0600 "$secrets/cluster.key"
read -r gossip_port control_port < <(/usr/bin/python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)
user=nobody
# The image's PATH (Docker's default), so that the entrypoint finds Debian's python3 as in the image.
image_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
data=$work/data
mkdir -m 0700 "$data"
node_env=(KITH_NAME=smoke KITH_LISTEN="127.0.0.1:$gossip_port" KITH_CONTROL="127.0.0.1:$control_port"
          KITH_DATA_DIR="$data" KITH_USER="$user" KITH_LOG_LEVEL=info
          KITH_OPERATOR_KEYS_FILE="$secrets/operator.key.pub" KITH_CLUSTER_KEYS_FILE="$secrets/cluster.key"
          KITH_AGENTS=2 KITH_AGENT_GUARDS=smoke KITH_AGENT_POLICY=relaunch KITH_AGENT_KIND=swift)

env PATH="$image_path" "${node_env[@]}" "${command[-1]}" config > "$work/config.json" || fail "kith-entrypoint config failed"
grep -q '<redacted>' "$work/config.json" || fail "kith-entrypoint config does not redact the cluster key"
! grep -q "$(cat "$secrets/cluster.key")" "$work/config.json" || fail "kith-entrypoint config printed the cluster key"

say "ENTRYPOINT ${entrypoint} as root: kithd 'smoke' on 127.0.0.1:$gossip_port, control :$control_port, 2 agents, as $user"
env PATH="$image_path" "${node_env[@]}" "${command[@]}" kithd > "$work/kithd.log" 2>&1 &
kithd_pid=$!
ctl() { timeout 10 "$bin/kithctl" --node "127.0.0.1:$control_port" --key "$secrets/operator.key" "$@"; }
deadline=$(( $(date +%s) + 30 ))
running=0
while [ "$(date +%s)" -lt "$deadline" ]; do
    kill -0 "$kithd_pid" 2>/dev/null || { cat "$work/kithd.log" >&2; fail "kithd exited early"; }
    if agents=$(ctl agents --json 2>/dev/null); then
        running=$(/usr/bin/python3 -c '
import json, sys
text = sys.stdin.read().strip()
data = json.loads(text) if text.startswith(("[", "{")) else [json.loads(l) for l in text.splitlines()]
if isinstance(data, dict):
    data = data.get("agents", [])
print(sum(1 for a in data if a.get("state") == "running"))' <<<"$agents" 2>/dev/null || echo 0)
        [ "$running" -ge 2 ] && break
    fi
    sleep 0.5
done
[ "$running" -ge 2 ] || { cat "$work/kithd.log" >&2; ctl agents >&2 || true; fail "the two agents did not run within 30 s"; }
# $kithd_pid is tini (as PID 1 in the image); kithd is its child.
child=$(ps -o pid=,user=,comm= --ppid "$kithd_pid" | awk '$3 == "kithd"')
[ "$(awk '{ print $2 }' <<<"$child")" = "$user" ] || fail "kithd does not run as $user under tini (found: '${child:-no kithd child}')"
grep -q '^CapEff:[[:space:]]*0*$' "/proc/$(awk '{ print $1 }' <<<"$child")/status" || fail "kithd has capabilities"
ctl status >/dev/null || fail "kithctl status failed"
ctl heal >/dev/null || { cat "$work/kithd.log" >&2; fail "a signed command (kithctl heal) was refused: is the operator key from KITH_OPERATOR_KEYS_FILE trusted?"; }
printf '  kithd runs as %s, 2 agents running, kithctl status and a signed heal: ok\n' "$user" >&2
env PATH="$image_path" KITH_DATA_DIR="$data" "${command[-1]}" health || fail "kith-entrypoint health (the compose healthcheck) failed"
printf '  kith-entrypoint health: ok\n' >&2

# The compose lab's coordinator: installs the operator key beside its counter, then idles until SIGTERM.
coordinator_key=$work/coordinator/operator/operator.key
env PATH="$image_path" KITH_DATA_DIR="$work/coordinator" KITH_OPERATOR_KEY_SECRET="$secrets/operator.key" \
    KITH_OPERATOR_KEY="$coordinator_key" "${command[@]}" coordinator > "$work/coordinator.log" 2>&1 &
coordinator_pid=$!
for _ in $(seq 50); do [ -f "$coordinator_key" ] && break; sleep 0.1; done
cmp -s "$coordinator_key" "$secrets/operator.key" || { cat "$work/coordinator.log" >&2; fail "the coordinator did not install the operator key"; }
KITH_OPERATOR_KEY=$coordinator_key timeout 10 "$bin/kithctl" --node "127.0.0.1:$control_port" heal >/dev/null \
    || fail "kithctl signing with the coordinator's key copy was refused"
[ -f "$coordinator_key.counter" ] || fail "kithctl kept no counter beside the coordinator's key"
kill -TERM "$coordinator_pid"
for _ in $(seq 30); do kill -0 "$coordinator_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$coordinator_pid" 2>/dev/null; then kill -KILL "$coordinator_pid"; fail "the coordinator ignored SIGTERM"; fi
printf '  coordinator: key installed, kithctl signs with it, stops on SIGTERM: ok\n' >&2

kill -TERM "$kithd_pid"
for _ in $(seq 50); do kill -0 "$kithd_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$kithd_pid" 2>/dev/null; then fail "kithd (under tini) did not exit within 5 s of SIGTERM"; fi
status=0
wait "$kithd_pid" || status=$?
kithd_pid=""
[ "$status" -eq 0 ] || { tail -n 20 "$work/kithd.log" >&2; fail "kithd exited with status $status after SIGTERM"; }
printf '  SIGTERM: kithd left and exited 0\n' >&2
# --- 6. (--runtime-rootfs) the runtime stage itself, in a chroot
if [ "$runtime_rootfs" -eq 1 ]; then
    image=$work/image
    mirror=${KITH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
    say "runtime stage: debootstrap --variant=minbase $codename (required packages + apt, as $runtime_image) from $mirror"
    command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
        || fail "cannot install debootstrap"
    debootstrap --variant=minbase "$codename" "$image" "$mirror" > "$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    cp /etc/resolv.conf "$image/etc/resolv.conf"
    # The runtime stage's RUN, continuation lines joined; its ARGs are in its environment, as in a docker build.
    run=$(awk '/^FROM /{ stage++ } stage == 2' "$dockerfile" | awk '/^RUN /{ f = 1 } f { print } f && !/\\$/ { f = 0 }' \
          | sed 's/\\$//' | tr '\n' ' ' | sed 's/^RUN //')
    [ -n "$run" ] || fail "no RUN in the runtime stage"
    kith_uid=$(dockerfile_arg KITH_UID)
    say "RUN (in the chroot) with RUNTIME_PACKAGES='${runtime_packages[*]}' KITH_UID=$kith_uid"
    # shellcheck disable=SC2016 # expanded by the inner sh
    unshare -m sh -c 'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && shift && exec chroot "$@"' _ "$image" \
        "$image" /usr/bin/env -i PATH="$image_path" RUNTIME_PACKAGES="${runtime_packages[*]}" KITH_UID="$kith_uid" \
        /bin/sh -c "$run" > "$work/runtime-run.log" 2>&1 \
        || { tail -n 30 "$work/runtime-run.log" >&2; fail "the runtime stage's RUN failed in the chroot"; }
    say "COPY --from=build /staging/ /"
    cp -a "$rootfs/." "$image/"
    [ "$(stat -c %u:%g "$image/var/lib/kith")" = "$kith_uid:$kith_uid" ] || fail "/var/lib/kith is not owned by kith ($kith_uid)"
    mkdir -p "$image/run/secrets"
    cp "$secrets/operator.key.pub" "$image/run/secrets/operator_pub"
    cp "$secrets/cluster.key" "$image/run/secrets/cluster_key"
    chmod 0600 "$image/run/secrets/"*
    cat > "$work/in-image.sh" <<'EOF'
# Runs in private mount and network namespaces: the image's root in a chroot, loopback only.
set -euo pipefail
image=$1 path=$2 entrypoint=$3
ip link set lo up
mount -t proc proc "$image/proc"
mount --rbind /dev "$image/dev"
ctl() { chroot "$image" /usr/bin/env -i PATH="$path" HOME=/root timeout 10 kithctl --node 127.0.0.1:7400 "$@"; }
running() {
    ctl agents --json 2>/dev/null | chroot "$image" /usr/bin/python3 -c '
import json, sys
print(sum(1 for a in json.load(sys.stdin) if a.get("state") == "running"))' 2>/dev/null || echo 0
}
try() {   # $1: label; the rest: how to start the image's ENTRYPOINT
    local label=$1 pid n=0 status=0
    shift
    "$@" > "/tmp/kith-image-$label.log" 2>&1 &
    pid=$!
    for _ in $(seq 60); do
        n=$(running)
        [ "$n" -ge 2 ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if [ "$n" -lt 2 ]; then
        cat "/tmp/kith-image-$label.log" >&2; kill -KILL "$pid" 2>/dev/null || true
        echo "$label: the two guardian.py agents did not run"; return 1
    fi
    local who
    who=$(ps -o user=,comm= --ppid "$pid" | awk '$2 == "kithd" { print $1 }')
    kill -TERM "$pid"
    wait "$pid" || status=$?
    [ "$status" -eq 0 ] || { tail -n 5 "/tmp/kith-image-$label.log" >&2; echo "$label: exit status $status after SIGTERM"; return 1; }
    echo "  $label: kithd (as uid $who) ran two guardian.py agents, exited 0 on SIGTERM"
}
common=(PATH="$path" KITH_DATA_DIR=/var/lib/kith KITH_NAME=img KITH_LISTEN=127.0.0.1:7946 KITH_CONTROL=127.0.0.1:7400
        KITH_AGENTS=2 KITH_AGENT_GUARDS=img KITH_AGENT_KIND=python KITH_AGENT_POLICY=relaunch)
# USER kith, as `docker run` and Kubernetes start it (HOME from the passwd entry).
try as-kith chroot --userspec=10001:10001 "$image" /usr/bin/env -i HOME=/var/lib/kith "${common[@]}" $entrypoint kithd
# user: root with secrets, as the compose lab starts it.
try as-root chroot "$image" /usr/bin/env -i HOME=/root "${common[@]}" KITH_OPERATOR_KEYS_FILE=/run/secrets/operator_pub \
    KITH_CLUSTER_KEYS_FILE=/run/secrets/cluster_key $entrypoint kithd
EOF
    entry=$(/usr/bin/python3 -c 'import json, sys; print(" ".join(json.loads(sys.argv[1])))' "$entrypoint")
    unshare -m -n bash "$work/in-image.sh" "$image" "$image_path" "$entry" \
        || fail "the image's ENTRYPOINT did not run in the chroot"
    say "runtime stage replayed in a chroot: packages, user, ENTRYPOINT as kith and as root: ok"
fi

if [ -n "$rootfs_out" ]; then
    mkdir -p "$rootfs_out"
    cp -a "$rootfs/." "$rootfs_out/"
    say "staged tree copied to $rootfs_out"
fi
say "docker-build-steps: all steps and checks passed"
