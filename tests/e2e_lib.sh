# e2e_lib.sh — helpers for the end-to-end tests: TAP-like "ok"/"FAIL"
# lines, expected exit codes and stderr text.  Needs NETC, NETRUN, GEN_DATA
# and SOURCE_ROOT (set by meson).  With E2E_VALGRIND set (the memcheck
# command of `meson test --setup valgrind`, tests/valgrind.sh), every call of
# the three tools runs under it.  QUICK=1 (under valgrind, or with E2E_QUICK=1
# as tests/run.sh sets for the sanitizer build) tells the scripts to size their
# runs down: the same code paths on less work.
set -u
fails=0
checks=0
WORK=$(mktemp -d /tmp/netc-e2e.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
QUICK=${E2E_QUICK:-0}
# wrap_tools [VARS]: under valgrind, each tool whose path a variable of VARS
# holds (default: NETC NETRUN GEN_DATA and E2E_MORE_TOOLS, which a script
# sets before it sources this file) becomes a script running it under memcheck.
wrap_tools() {
    [ -n "${E2E_VALGRIND:-}" ] || return 0
    mkdir -p "$WORK/bin"
    for tool in ${1:-NETC NETRUN GEN_DATA ${E2E_MORE_TOOLS:-}}; do
        real=${!tool}
        wrapped=$WORK/bin/$(basename "$real")
        printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$E2E_VALGRIND" "$real" > "$wrapped"
        chmod +x "$wrapped"
        printf -v "$tool" '%s' "$wrapped"
    done
}
[ -z "${E2E_VALGRIND:-}" ] || QUICK=1
wrap_tools

ok()   { checks=$((checks + 1)); echo "ok - $1"; }
fail() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL - $1"; }

# expect STATUS "TEXT" name -- command...: exit status and a stderr/stdout substring
expect() {
    local want=$1 text=$2 name=$3
    shift 4
    local out status=0
    out=$("$@" 2>&1) || status=$?
    if [ "$status" -ne "$want" ]; then
        fail "$name: exit $status, expected $want; output: $(echo "$out" | tail -3)"
    elif [ -n "$text" ] && ! grep -qF -- "$text" <<<"$out"; then
        fail "$name: output lacks '$text'; got: $(echo "$out" | tail -3)"
    else
        ok "$name"
    fi
}

# wait_step CKPT K PID: until the checkpoint CKPT holds step K or more (or
# PID has ended).  Polls with shell builtins only (no fork: a signal sent
# next comes soon after the step); sleeps by reading $wait_fd, a pipe nobody
# writes, opened on the first call.
wait_step() {
    local hdr
    [ -n "${wait_fd:-}" ] || exec {wait_fd}<> <(:)
    while kill -0 "$3" 2>/dev/null; do
        hdr=""
        { read -r -d '' -N 16384 hdr < "$1"; } 2>/dev/null
        if [[ $hdr =~ \"step\":\"([0-9]+)\" ]] && [ "${BASH_REMATCH[1]}" -ge "$2" ]; then
            return 0
        fi
        read -r -t 0.01 -u "$wait_fd" || true
    done
    return 1
}

# loss_falls LABEL LOG: the training loss (column 3 of the log.csv LOG) of
# the last epoch is under half the first epoch's; LABEL ("" or "NAME: ")
# starts the line.  Skipped under QUICK (too few steps).
loss_falls() {
    local first last
    first=$(sed -n 2p "$2" | cut -d, -f3)
    last=$(tail -1 "$2" | cut -d, -f3)
    if [ "$QUICK" = 1 ]; then
        echo "# skip: ${1}training loss falls (QUICK: too few steps)"
    elif awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.5 * a) }'; then
        ok "${1}training loss falls ($first -> $last)"
    else
        fail "${1}training loss does not fall enough ($first -> $last)"
    fi
}

# json_num FILE KEY: a top-level number from netrun eval --json
json_num() { grep -o "\"$2\":[-0-9.eE+]*" "$1" | head -1 | cut -d: -f2; }

finish() {
    echo "# $checks checks, $fails failed"
    [ "$fails" -eq 0 ]
}
