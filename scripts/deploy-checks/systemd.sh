#!/usr/bin/env bash
# deploy check 'systemd': `systemd-analyze verify` of deploy/systemd/kithd.service in a scratch root holding the
# real kithd at /usr/local/bin (--root keeps the host untouched); no warnings allowed; the
# hardening directives present; `systemd-analyze security --offline` exposure at most 4.0.
# shellcheck source=scripts/deploy-checks/lib.sh
. "$(dirname "$0")/lib.sh"

have_rootfs
unit=deploy/systemd/kithd.service
root=$tmp/systemd-root
mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp "$rootfs/usr/local/bin/kithd" "$root/usr/local/bin/kithd"
cp "$unit" "$root/etc/systemd/system/kithd.service"
out=$(systemd-analyze verify --root="$root" kithd.service 2>&1) || { echo "$out"; echo "systemd-analyze verify failed"; exit 1; }
[ -z "$out" ] || { echo "$out"; echo "systemd-analyze verify printed warnings"; exit 1; }
echo "systemd-analyze verify --root=SCRATCH kithd.service: ok, no warnings"
missing=()
for directive in 'User=kith' 'DynamicUser=no' 'ProtectSystem=strict' 'ReadWritePaths=/var/lib/kith' 'ProtectHome=yes' \
                 'NoNewPrivileges=yes' 'PrivateTmp=yes' 'Restart=on-failure' 'RestartSec=' 'LimitNOFILE=' \
                 'KillMode=mixed' 'TimeoutStopSec=' 'ExecStart=/usr/local/bin/kithd --config /etc/kith/kithd.json'; do
    grep -q "^$directive" "$unit" || missing+=("$directive")
done
[ ${#missing[@]} -eq 0 ] || { echo "missing: ${missing[*]}"; exit 1; }
echo "hardening and restart directives present"
out=$(systemd-analyze security --offline=yes --root="$root" kithd.service 2>&1 | tail -n 1)
score=$(sed -n 's/.*exposure level for kithd.service: \([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$score" ] || { echo "$out"; echo "no exposure score"; exit 1; }
echo "systemd-analyze security: exposure $score"
awk -v s="$score" 'BEGIN { exit !(s <= 4.0) }' || { echo "exposure $score is above 4.0"; exit 1; }
