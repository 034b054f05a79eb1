# bash completion for kithctl. Install: source this file, or copy it to
# /usr/share/bash-completion/completions/kithctl (or ~/.local/share/bash-completion/completions/).
# Completes command words, sub-actions, options and, after --node and the agent commands, the names
# of the default lab's nodes and the cluster's agents (asked with a 1 s timeout).

_kithctl_commands="members status faults logs dashboard agents agent send keygen shutdown kill pause
kill-switch revive quarantine release halt resume keys node partition delay loss heal events check lab
bench demo run report soak help"
_kithctl_globals="--node --key --cluster --valid-for --help --version"

_kithctl_options() {
    case "$1" in
        members|status|faults) echo "--json --timeout" ;;
        logs) echo "-f --follow --since --json --timeout" ;;
        dashboard) echo "--lab" ;;
        agents) echo "--json" ;;
        agent) echo "start stop --on --protects --policy --max-restarts --restart-window-ms --max-handoffs --env --working-dir --wait --timeout" ;;
        keygen) echo "--force" ;;
        shutdown|kill) echo "agent node" ;;
        pause) echo "node --for" ;;
        kill-switch) echo "--all --reason --timeout --json" ;;
        revive) echo "--json" ;;
        quarantine) echo "--reason --timeout --json" ;;
        release) echo "--timeout --json" ;;
        halt|resume) echo "--json" ;;
        keys) echo "generate install use remove --file --json" ;;
        partition) echo "--for --oneway --json" ;;
        delay) echo "--ms --jitter --for --oneway --json" ;;
        loss) echo "--percent --for --oneway --json" ;;
        heal) echo "--json --timeout" ;;
        events) echo "verify --since --limit --node --agent --type --follow --json --timeout --repin" ;;
        lab) echo "up status down kill pause resume stop start partition heal netem --nodes --dir --kithd --agents --policy --kith-agent --insecure --relaunch-quorum --netns --subnet --json --oneway --delay --jitter --loss --clear" ;;
        bench) echo "membership agents messages --nodes --trials --idle --json --kithd --kith-agent --agents --count --payload-bytes --window --backpressure-count" ;;
        demo) echo "--nodes --kithd --kith-agent" ;;
        run) echo "--report --dry-run --repeats --resume --kithd --kith-agent" ;;
        node) echo "certify --out --key --cluster" ;;
        check) echo "--lab --json" ;;
        report) echo "compare --json" ;;
        soak) echo "--for --seed --nodes --agents --relaunch-quorum --report --kithd --kith-agent" ;;
        help) echo "$_kithctl_commands" ;;
    esac
}

# Node names of the default lab ($KITH_LAB_DIR or ./.kith-lab), from its lab.json.
_kithctl_nodes() {
    local file="${KITH_LAB_DIR:-.kith-lab}/lab.json"
    [ -r "$file" ] && grep -o '"name" *: *"[^"]*"' "$file" | sed 's/.*"\([^"]*\)"$/\1/'
}

# Agent names as the cluster knows them (quietly nothing when no node answers).
_kithctl_agents() {
    "${COMP_WORDS[0]}" agents --json 2>/dev/null | grep -o '"name" *: *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'
}

_kithctl() {
    local cur prev command word i
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        case "$word" in
            --node|--key|--cluster) ((i++)) ;;
            -*) ;;
            *) command="$word"; break ;;
        esac
    done
    case "$prev" in
        --node|--on) COMPREPLY=($(compgen -W "$(_kithctl_nodes)" -- "$cur")); return ;;
        --key|--file|--kithd|--kith-agent|--cluster-key-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --dir|--lab|--report|--working-dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
        --policy) COMPREPLY=($(compgen -W "none relaunch relaunch-and-mask" -- "$cur")); return ;;
        --relaunch-quorum) COMPREPLY=($(compgen -W "any majority" -- "$cur")); return ;;
        --agent) COMPREPLY=($(compgen -W "$(_kithctl_agents)" -- "$cur")); return ;;
    esac
    if [ -z "$command" ]; then
        COMPREPLY=($(compgen -W "$_kithctl_commands $_kithctl_globals" -- "$cur"))
    elif [[ "$cur" != -* ]] && [[ " logs send kill-switch revive quarantine release " == *" $command "* ]]; then
        COMPREPLY=($(compgen -W "$(_kithctl_agents) $(_kithctl_options "$command")" -- "$cur"))
    elif [[ "$command" == run && "$cur" != -* ]]; then
        COMPREPLY=($(compgen -f -X '!*.json' -- "$cur") $(compgen -d -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$(_kithctl_options "$command") $_kithctl_globals" -- "$cur"))
    fi
}

complete -F _kithctl kithctl
