#!/usr/bin/env bash
# campaign.sh — a long libFuzzer campaign over every target, in one command:
#
#   tests/fuzz/campaign.sh                       # every target, 3600 s each, all at once
#   SECONDS_EACH=600 tests/fuzz/campaign.sh fuzz_png fuzz_jpeg
#   NICE=0 JOBS=2 tests/fuzz/campaign.sh         # an idle 2-core machine: a core-hour per target
#
# Builds build-asan/ (clang, ASan+UBSan, libFuzzer) when it is missing, then runs the named
# targets (default: every fuzz_* of tests/fuzz/meson.build), JOBS at a time (default: all side by
# side; JOBS=2 on 2 idle cores gives each target a core for its whole run), each for SECONDS_EACH
# of wall-clock time (default 3600) at nice NICE (default 19, so the campaign takes only the
# CPU nothing else wants), from the committed seeds in tests/fuzz/NAME (and NAME.dict), growing a
# corpus of its own in OUT/NAME/corpus (OUT default build-asan/fuzz-campaign; kept between runs,
# so a second campaign goes on from the first). Each target runs under libFuzzer's own
# -timeout=10 and -rss_limit_mb=2048, and with -fork=1 -ignore_crashes=1 so that one finding
# does not end its hour: every crash, leak, timeout or out-of-memory input is saved in
# OUT/NAME/artifacts.
#
# At the end it prints one table (also OUT/totals.md): per target the wall and CPU seconds,
# executions, executions per second, the corpus's size before merging, the inputs that add
# coverage to the committed seeds, and the findings. MERGE=1 (the default) then copies those
# inputs into tests/fuzz/NAME/ (libFuzzer's -merge=1: only the ones that cover code the seeds do
# not) for the committer to review and commit; MERGE=0 leaves the seeds alone.
set -u
cd "$(dirname "$0")/../.."
SECONDS_EACH=${SECONDS_EACH:-3600}
NICE=${NICE:-19}
JOBS=${JOBS:-0}
MERGE=${MERGE:-1}
BUILD=${BUILD:-build-asan}
OUT=${OUT:-$BUILD/fuzz-campaign}

if [ ! -f "$BUILD/build.ninja" ]; then
    CC=clang meson setup "$BUILD" -Db_sanitize=address,undefined -Dbuildtype=debugoptimized \
        -Db_lundef=false >/dev/null || exit 1
fi
ninja -C "$BUILD" >/dev/null || { echo "campaign.sh: the build in $BUILD failed" >&2; exit 1; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    # The targets table of tests/fuzz/meson.build: one line `'NAME' : dep,` each.
    mapfile -t targets < <(sed -n "s/^ *'\([a-z_]*\)' *: *[a-z_]*_dep,.*/fuzz_\1/p" tests/fuzz/meson.build)
fi
for t in "${targets[@]}"; do
    [ -x "$BUILD/tests/fuzz/$t" ] || { echo "campaign.sh: no fuzzer $BUILD/tests/fuzz/$t" >&2; exit 1; }
    [ -d "tests/fuzz/${t#fuzz_}" ] || { echo "campaign.sh: no seeds tests/fuzz/${t#fuzz_}" >&2; exit 1; }
done

HZ=$(getconf CLK_TCK)
[ "$JOBS" -gt 0 ] 2>/dev/null || JOBS=${#targets[@]}
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    name=${t#fuzz_} dir=$OUT/$t
    mkdir -p "$dir/corpus" "$dir/artifacts"
    dict=()
    [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    # The fuzzer's CPU time is read from its process group when it ends (bash's `times` counts
    # children only after they are reaped, so each target runs under /usr/bin/time).
    nice -n "$NICE" /usr/bin/time -f '%e %U %S' -o "$dir/time" \
        "$BUILD/tests/fuzz/$t" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/" "${dict[@]}" "$dir/corpus" "tests/fuzz/$name" \
        >"$dir/log" 2>&1 &
    echo "campaign.sh: $t started ($SECONDS_EACH s, pid $!, log $dir/log)"
done
wait

{
    echo "| target | wall s | CPU s | executions | exec/s (CPU) | corpus | added to seeds | findings |"
    echo "|---|---|---|---|---|---|---|---|"
    for t in "${targets[@]}"; do
        name=${t#fuzz_} dir=$OUT/$t
        read -r wall user sys <"$dir/time"
        cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.0f", u + s }')
        # -fork=1 prints one "#N ... exec/s" line per job; the last line with a run count wins.
        execs=$(grep -o '^#[0-9]*' "$dir/log" | tail -1 | tr -d '#')
        execs=${execs:-0}
        rate=$(awk -v e="$execs" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0 ? e / c : 0) }')
        ncorp=$(find "$dir/corpus" -type f | wc -l)
        nfind=$(find "$dir/artifacts" -type f | wc -l)
        added=0
        if [ "$MERGE" = 1 ] && [ "$ncorp" -gt 0 ]; then
            before=$(find "tests/fuzz/$name" -maxdepth 1 -type f | wc -l)
            "$BUILD/tests/fuzz/$t" -merge=1 -timeout=10 -rss_limit_mb=2048 \
                "tests/fuzz/$name" "$dir/corpus" >"$dir/merge.log" 2>&1
            after=$(find "tests/fuzz/$name" -maxdepth 1 -type f | wc -l)
            added=$((after - before))
        fi
        printf '| %s | %.0f | %s | %s | %s | %s | %s | %s |\n' "$t" "$wall" "$cpu" "$execs" "$rate" \
            "$ncorp" "$added" "$nfind"
    done
} | tee "$OUT/totals.md"
echo "campaign.sh: findings, if any, are in $OUT/*/artifacts; totals in $OUT/totals.md"
