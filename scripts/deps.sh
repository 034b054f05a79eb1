#!/usr/bin/env bash
# Installs the Debian packages Kith builds against, if they are missing;
# with --tests also what the tests use (network namespaces, nftables,
# setpriv for agents, python3 for the Python agent, prometheus for promtool,
# chromium for the dashboard test, zsh to check its completion file).
set -euo pipefail
packages=(libuv1-dev libsodium-dev libhttp-parser-dev pkg-config util-linux)
# iptables: a netns lab opens its bridge in FORWARD where bridged packets are filtered (Docker).
if [ "${1:-}" = "--tests" ]; then packages+=(iproute2 nftables iptables python3 prometheus chromium zsh); fi
needed=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || needed+=("$pkg")
done
if [ ${#needed[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing: ${needed[*]}" >&2
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${needed[@]}" >/dev/null
fi
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    echo "note: swift is at /opt/swift/usr/bin; add it to PATH" >&2
fi
