# shellcheck shell=bash
# Sourced by every scripts/deploy-checks/*.sh (run by scripts/check-deploy.sh, which
# exports KITH_CHECK_TMP, its scratch directory, removed at the end). Each check runs
# from the repository root with set -euo pipefail and exits non-zero on failure.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
tmp=${KITH_CHECK_TMP:?run the deploy checks through scripts/check-deploy.sh}
# The image's root as the build check stages it.
rootfs=$tmp/rootfs
# yamllint and kubernetes-validate, installed by the tools check.
venv=${XDG_CACHE_HOME:-$HOME/.cache}/kith-check-deploy/venv
yamllint_config='{extends: default, rules: {line-length: {max: 120}, document-start: disable}}'
export repo tmp rootfs venv yamllint_config

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
