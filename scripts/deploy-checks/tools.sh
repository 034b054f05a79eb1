#!/usr/bin/env bash
# deploy check 'tools': Installs what the checks need: apt (docker-compose, systemd, nftables, iproute2,
# util-linux, shellcheck) and pip (yamllint, kubernetes-validate) in a venv under
# ${XDG_CACHE_HOME:-~/.cache}/kith-check-deploy. Needs root.
# shellcheck source=scripts/deploy-checks/lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "check-deploy.sh needs root (apt-get, network namespaces)"; exit 1; }
need=()
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
