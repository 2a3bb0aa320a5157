#!/usr/bin/env bash
# bench/fuzz_speed.sh — executions per second of a libFuzzer target, two builds
# alternating (issue 24: netc's target ran at ~360/s).
#
#   bench/fuzz_speed.sh OLD_FUZZER NEW_FUZZER [SEEDS]
#   bench/fuzz_speed.sh /tmp/base/build-asan/tests/fuzz/fuzz_netc build-asan/tests/fuzz/fuzz_netc
#
# OLD and NEW are two builds of one target (e.g. fuzz_netc of a main checkout
# and of this one, both `CC=clang meson setup B -Db_sanitize=address,undefined
# -Dbuildtype=debugoptimized`, `ninja -C B tests/fuzz/fuzz_netc`).  Each
# round runs OLD, then NEW, for FUZZ_SECONDS (default 30) of fuzzing from SEEDS
# (default tests/fuzz/netc, with its .dict) into a fresh corpus, with the same
# -seed, and prints libFuzzer's stat::average_exec_per_sec and
# stat::number_of_executed_units; ROUNDS (default 3) rounds, then the median
# exec/s of each.  Also, REPLAY=1: each build runs every file of a fixed
# corpus (SEEDS plus what the first round grew) 5 times, the mean ms per run
# (libFuzzer's "Executed FILE in N ms"), the same work for both.  The cores
# are shared on the project's machine: run it alone, or say the load.
set -euo pipefail
old=$1 new=$2
seeds=${3:-$(dirname "$0")/../tests/fuzz/netc}
SECONDS_RUN=${FUZZ_SECONDS:-30}
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d /tmp/fuzz_speed.XXXXXX)
trap 'rm -rf "$work"' EXIT
dict=()
[ -f "$seeds.dict" ] && dict=(-dict="$seeds.dict")
declare -A rates
for r in $(seq 1 "$ROUNDS"); do
    for which in old new; do
        bin=${!which}
        mkdir -p "$work/$which.$r"
        out=$("$bin" -max_total_time="$SECONDS_RUN" -seed="$r" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$work/" "${dict[@]}" "$work/$which.$r" "$seeds" 2>&1 || true)
        rate=$(grep -o 'average_exec_per_sec: *[0-9]*' <<<"$out" | grep -o '[0-9]*$')
        units=$(grep -o 'number_of_executed_units: *[0-9]*' <<<"$out" | grep -o '[0-9]*$')
        load=$(cut -d' ' -f1 /proc/loadavg)
        echo "round $r $which: $rate exec/s, $units executions in ${SECONDS_RUN} s (load average $load)"
        rates[$which]+="$rate "
    done
done
for which in old new; do
    echo "$which: median $(tr ' ' '\n' <<<"${rates[$which]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') exec/s"
done
if [ "${REPLAY:-0}" = 1 ]; then
    files=("$seeds"/* "$work"/new.1/* "$work"/old.1/*)
    for which in old new; do
        bin=${!which}
        "$bin" -runs=5 "${files[@]}" 2>&1 | grep Executed |
            awk -v w="$which" '{s += $(NF-1); n++} END {printf "%s: replay of %d files x 5: %.2f ms per run\n", w, n, s / n / 5}'
    done
fi
