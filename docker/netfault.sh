#!/bin/sh
# kith-netfault: real packet drops between lab containers, with nftables
# (installed in the image as /usr/local/bin/kith-netfault).
#
# Run it as root inside a node container of a lab started with KITH_NET_FAULTS=nft
# (the compose file grants the containers NET_ADMIN; kithd itself runs without it):
#
#   docker compose -f docker/compose.yaml exec -u root n1 kith-netfault drop n3 n4 n5
#   docker compose -f docker/compose.yaml exec -u root n1 kith-netfault heal
#
#   kith-netfault drop [--in|--out] HOST...   drop packets from (--in), to (--out) or, by
#                                            default, both from and to each HOST (a name
#                                            or an address), silently: the peer sees a
#                                            silent host, not a refused connection
#   kith-netfault heal [HOST...]             stop dropping for those HOSTs, or for all
#   kith-netfault show                       the addresses dropped now
#   kith-netfault init                       create the (empty) table; kith-entrypoint
#                                            runs this at start when KITH_NET_FAULTS=nft
#
# Dropping both ways on one side of a partition cuts it both ways, so for
# n1,n2 / n3,n4,n5 it is enough to run "drop n3 n4 n5" on n1 and on n2.
# Everything lives in one table, inet kith_netfault; "heal" with no HOST deletes it.
# Exit status: 0 done, 1 nft failed, 2 bad usage or the lab is not in nft mode.
set -eu

table="inet kith_netfault"

usage() {
    sed -n 's/^#   kith-netfault/kith-netfault/p' "$0" >&2
    exit "${1:-2}"
}

die() { printf 'kith-netfault: %s\n' "$1" >&2; exit "${2:-1}"; }

require_mode() {
    if [ "${KITH_NET_FAULTS:-kithctl}" != nft ] && [ -z "${KITH_NETFAULT_FORCE:-}" ]; then
        die "this container runs with KITH_NET_FAULTS=${KITH_NET_FAULTS:-kithctl}: use 'kithctl partition', or start the lab with KITH_NET_FAULTS=nft" 2
    fi
    [ "$(id -u)" -eq 0 ] || die "run as root: docker compose exec -u root NODE kith-netfault ..." 2
}

init() {
    nft -f - <<EOF
table $table {
    set in4 { type ipv4_addr; }
    set out4 { type ipv4_addr; }
    set in6 { type ipv6_addr; }
    set out6 { type ipv6_addr; }
    chain input {
        type filter hook input priority -10; policy accept;
        ip saddr @in4 drop
        ip6 saddr @in6 drop
    }
    chain output {
        type filter hook output priority -10; policy accept;
        ip daddr @out4 drop
        ip6 daddr @out6 drop
    }
}
EOF
}

# The addresses HOST stands for, one per line.
addresses() {
    case $1 in
        *[!0-9a-fA-F.:]*) getent ahosts "$1" | awk '{ print $1 }' | sort -u ;;
        *) printf '%s\n' "$1" ;;
    esac
}

# $1: add or delete; $2: in, out or both; the rest: hosts.
change() {
    verb=$1 direction=$2
    shift 2
    for host in "$@"; do
        found=$(addresses "$host")
        [ -n "$found" ] || die "cannot resolve '$host'"
        for address in $found; do
            case $address in *:*) family=6 ;; *) family=4 ;; esac
            for way in in out; do
                [ "$direction" = both ] || [ "$direction" = "$way" ] || continue
                if [ "$verb" = add ]; then
                    nft add element "$table" "$way$family" "{ $address }"
                else
                    nft delete element "$table" "$way$family" "{ $address }" 2>/dev/null || true
                fi
            done
            printf '%s %s (%s) %s\n' "$([ "$verb" = add ] && echo dropping || echo healed)" "$host" "$address" \
                "$([ "$direction" = both ] && echo "in and out" || echo "$direction")"
        done
    done
}

[ $# -gt 0 ] || usage
command=$1
shift
case $command in
    init)
        require_mode
        nft list table "$table" >/dev/null 2>&1 || init
        ;;
    drop)
        require_mode
        direction=both
        case ${1:-} in
            --in) direction=in; shift ;;
            --out) direction=out; shift ;;
        esac
        [ $# -gt 0 ] || usage
        nft list table "$table" >/dev/null 2>&1 || init
        change add "$direction" "$@"
        ;;
    heal)
        require_mode
        if [ $# -eq 0 ]; then
            nft delete table "$table" 2>/dev/null || true
            echo "healed: no packets are dropped"
        elif nft list table "$table" >/dev/null 2>&1; then
            change delete both "$@"
        fi
        ;;
    show)
        require_mode
        nft list table "$table" 2>/dev/null || echo "nothing is dropped"
        ;;
    -h|--help|help) usage 0 ;;
    *) usage ;;
esac
