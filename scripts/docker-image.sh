#!/usr/bin/env bash
# Builds the images of the container lab (`kithctl lab up --docker`) without
# any image registry, and caches them in the engine:
#
#   kith-base:bookworm  debootstrap --variant=minbase bookworm plus the runtime
#                       packages of docker/Dockerfile (RUNTIME_PACKAGES), trimmed
#                       (no apt lists, .debs, docs), then `docker import`. Made once;
#                       --rebuild-base makes it again.
#   kith:dev            docker/Dockerfile.lab on that base with kithd, kithctl and
#                       kith-agent built here by `swift build -c release
#                       --static-swift-stdlib` (scripts/docker-build-steps.sh stage),
#                       the entrypoint, kith-netfault, guardian.py and the Python SDK.
#                       Rebuilt only when the staged files changed (label
#                       org.kith.staged = their sha256).
#
#   scripts/docker-image.sh [--rebuild-base] [--base-only] [--image NAME] [--base NAME]
#
# --base-only stops after the base (scripts/test.sh runs it beside the test build:
# debootstrap waits on the network, the build on the CPU).
# Needs root (debootstrap), a running engine (scripts/docker-engine.sh start)
# and Debian's mirror ($KITH_DEBIAN_MIRROR, default http://deb.debian.org/debian).
# Prints the image size at the end.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
image=kith:dev
base=kith-base:bookworm
rebuild_base=0
base_only=0
while [ $# -gt 0 ]; do
    case $1 in
        --rebuild-base) rebuild_base=1 ;;
        --base-only) base_only=1 ;;
        --image) image=$2; shift ;;
        --base) base=$2; shift ;;
        *) echo "usage: $0 [--rebuild-base] [--base-only] [--image NAME] [--base NAME]" >&2; exit 2 ;;
    esac
    shift
done

say() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'docker-image: FAILED: %s\n' "$*" >&2; exit 1; }

docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 \
    || fail "no Docker engine answers; start one (scripts/docker-engine.sh start) or install it (apt-get install -y docker.io)"

work=$(mktemp -d "${TMPDIR:-/tmp}/kith-docker-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- 1. the base image, by debootstrap and docker import
if [ "$rebuild_base" = 1 ] || ! docker image inspect "$base" >/dev/null 2>&1; then
    started=$(date +%s)
    command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
        || fail "cannot install debootstrap"
    packages=$(sed -n 's/^ARG RUNTIME_PACKAGES=//p' "$repo/docker/Dockerfile" | head -n 1 | tr -d '"')
    [ -n "$packages" ] || fail "docker/Dockerfile has no ARG RUNTIME_PACKAGES"
    mirror=${KITH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
    say "base $base: debootstrap --variant=minbase bookworm + ${packages} from $mirror"
    debootstrap --variant=minbase --include="${packages// /,}" bookworm "$work/rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/usr/share/doc/"* \
        "$work/rootfs/usr/share/man/"* "$work/rootfs/usr/share/info/"* "$work/rootfs/var/log/"*.log
    tar -C "$work/rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
    rm -rf "$work/rootfs"
    say "base $base made in $(( $(date +%s) - started )) s"
else
    say "base $base: cached"
fi
[ "$base_only" = 0 ] || exit 0

# --- 2. the binaries, built here
started=$(date +%s)
"$repo/scripts/docker-build-steps.sh" stage "$repo" "$work/context/staging"
staged=$(cd "$work/context/staging" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
say "binaries staged in $(( $(date +%s) - started )) s"

# --- 3. the runtime image, unless the same files are in it already
if [ "$(docker image inspect --format '{{index .Config.Labels "org.kith.staged"}}' "$image" 2>/dev/null || true)" = "$staged" ] \
   && [ "$rebuild_base" = 0 ]; then
    say "$image: cached (same binaries)"
else
    cp "$repo/docker/Dockerfile.lab" "$work/context/Dockerfile"
    docker build --quiet --build-arg "BASE_IMAGE=$base" --label "org.kith.staged=$staged" -t "$image" "$work/context" >/dev/null \
        || fail "docker build of $image failed"
    say "$image built"
fi
docker image inspect --format "$image {{.Size}} bytes" "$image"
