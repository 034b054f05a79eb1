#!/usr/bin/env bash
# Validates everything under docker/ and deploy/ without a Docker engine or a
# Kubernetes cluster (CI runs it). The containers themselves run in the container
# lab tests (DockerLabTests, with an engine that scripts/test.sh starts); these
# checks cover what those do not: the official-image Dockerfile's stages, the
# hand-written compose.yaml, systemd and k8s. Each check is a small script in
# scripts/deploy-checks/ (its header says what it proves), run in this order:
#
#   tools       apt and pip installs the checks need (docker-compose, systemd,
#               nftables, iproute2, shellcheck; yamllint, kubernetes-validate)
#   build       the Dockerfile's stages replayed outside Docker; stages the image's
#               root for the others (KITH_SKIP_RUNTIME_ROOTFS=1 skips the chroot)
#   compose     docker-compose config of docker/compose.yaml, the resolved file checked
#   systemd     systemd-analyze verify and security of deploy/systemd/kithd.service
#   k8s         yamllint, kubernetes-validate --strict and cross-references of deploy/k8s
#   configs     deploy/config/n*.json through kithd --check-config, then run for real
#   netfault    docker/netfault.sh in a private network namespace
#   entrypoint  docker/entrypoint.sh's config making and kithd --check of it
#   shell       shellcheck of the deployment scripts
#
#   scripts/check-deploy.sh [CHECK...]     all checks, or the named ones (after tools
#                                          and build, which the others need)
#
# Each check prints PASS or FAIL; the last line is "N passed, N failed"; the exit
# status is 1 if any failed. Needs root (apt, network namespaces). Everything else
# lives in a temporary directory (KITH_CHECK_TMP for the checks), removed at the end.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
checks_dir=scripts/deploy-checks
all=(tools build compose systemd k8s configs netfault entrypoint shell)

selected=("$@")
if [ ${#selected[@]} -eq 0 ]; then
    selected=("${all[@]}")
else
    for name in "${selected[@]}"; do
        [ -x "$checks_dir/$name.sh" ] || { echo "check-deploy: no check '$name' (checks: ${all[*]})"; exit 2; }
    done
    selected=(tools build "${selected[@]}")
fi

KITH_CHECK_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kith-check-deploy.XXXXXX")
export KITH_CHECK_TMP
chmod 0755 "$KITH_CHECK_TMP"
trap 'rm -rf "$KITH_CHECK_TMP"' EXIT
passed=0
failed=0
failures=()

# run_check NAME: runs scripts/deploy-checks/NAME.sh, output indented.
run_check() {
    local name=$1 started status
    printf '==> %s\n' "$name"
    started=$(date +%s)
    "$checks_dir/$name.sh" 2>&1 | sed -u 's/^/    /'
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

declare -A done_checks=()
for name in "${selected[@]}"; do
    [ -z "${done_checks[$name]:-}" ] || continue
    done_checks[$name]=1
    run_check "$name"
done

if [ "$failed" -gt 0 ]; then
    echo "check-deploy: FAILED: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
