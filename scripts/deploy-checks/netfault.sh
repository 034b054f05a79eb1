#!/usr/bin/env bash
# deploy check 'netfault': docker/netfault.sh in a private network namespace: a TCP connect succeeds, is silently
# dropped after `drop`, succeeds after `heal`; --out only; refuses without KITH_NET_FAULTS=nft.
# shellcheck source=scripts/deploy-checks/lib.sh
. "$(dirname "$0")/lib.sh"

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
