#!/usr/bin/env bash
# A Docker engine for the container lab tests, on a machine that may have none:
#
#   scripts/docker-engine.sh start   installs docker.io and docker-compose (Debian) when
#                                    missing and starts dockerd unless an engine answers;
#                                    prints "started PID" or "running" (someone else's)
#   scripts/docker-engine.sh stop    stops the dockerd that `start` started (its pid file),
#                                    nothing else; Docker's iptables chains stay, the
#                                    FORWARD policy and IP forwarding go back to what they
#                                    were before `start`
#
# The pid file, the saved FORWARD policy and dockerd's log live in $KITH_DOCKERD_DIR
# (default /tmp/kith-dockerd); $KITH_DOCKERD_ARGS go to dockerd (e.g. --iptables=false
# on a shared machine, where Docker's FORWARD policy would cut other bridges). Needs root.
set -euo pipefail

state=${KITH_DOCKERD_DIR:-/tmp/kith-dockerd}
say() { printf 'docker-engine: %s\n' "$*" >&2; }

answers() { docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

start() {
    mkdir -p "$state"
    if command -v docker >/dev/null 2>&1 && answers; then
        echo running
        return
    fi
    local needed=()
    command -v dockerd >/dev/null 2>&1 || needed+=(docker.io)
    command -v docker-compose >/dev/null 2>&1 || needed+=(docker-compose)
    command -v debootstrap >/dev/null 2>&1 || needed+=(debootstrap)
    if [ ${#needed[@]} -gt 0 ]; then
        say "installing ${needed[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${needed[@]}" >/dev/null
        # The package may have started its own daemon (where systemd runs); then that one serves.
        if answers; then echo running; return; fi
    fi
    iptables -S FORWARD 2>/dev/null | sed -n 's/^-P FORWARD //p' > "$state/forward-policy" || true
    cat /proc/sys/net/ipv4/ip_forward > "$state/ip-forward" 2>/dev/null || true
    # shellcheck disable=SC2086 # KITH_DOCKERD_ARGS is a list of flags
    setsid dockerd ${KITH_DOCKERD_ARGS:-} > "$state/dockerd.log" 2>&1 < /dev/null &
    echo $! > "$state/dockerd.pid"
    for _ in $(seq 1 150); do
        if answers; then
            echo "started $(cat "$state/dockerd.pid")"
            return
        fi
        sleep 0.2
    done
    tail -n 20 "$state/dockerd.log" >&2
    say "dockerd did not answer within 30 s"
    stop
    exit 1
}

stop() {
    [ -f "$state/dockerd.pid" ] || { say "no dockerd started by this script"; return; }
    local pid
    pid=$(cat "$state/dockerd.pid")
    if kill -0 "$pid" 2>/dev/null && grep -q dockerd "/proc/$pid/comm" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$state/dockerd.pid"
    # containerd, started by dockerd, ends with it; its shims end with their containers.
    if [ -s "$state/forward-policy" ]; then
        iptables -P FORWARD "$(cat "$state/forward-policy")" 2>/dev/null || true
    fi
    # dockerd turns IP forwarding on; it goes back too.
    if [ -s "$state/ip-forward" ]; then
        cat "$state/ip-forward" > /proc/sys/net/ipv4/ip_forward 2>/dev/null || true
    fi
    say "stopped dockerd $pid"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
