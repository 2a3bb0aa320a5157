#!/usr/bin/env bash
# run.sh FUZZER SEEDS [SECONDS] — a bounded libFuzzer run of one target (what
# `meson test --suite fuzz` runs): FUZZ_SECONDS when set, else SECONDS (default
# 30), of fuzzing from the committed seeds in SEEDS (read only; new inputs go to a scratch folder,
# or to FUZZ_CORPUS when set, to keep them) with SEEDS.dict when present.
# A crash, leak, sanitizer report or an input slower than 10 s fails the run;
# the input is saved as FUZZ_ARTIFACTS/crash-* (default: the fuzzer's folder).
# Prints libFuzzer's final statistics (stat::number_of_executed_units).
set -u
fuzzer=$1 seeds=$2
corpus=${FUZZ_CORPUS:-}
scratch=""
if [ -z "$corpus" ]; then
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")
    corpus=$scratch
    trap 'rm -rf "$scratch"' EXIT
fi
mkdir -p "$corpus"
dict=()
[ -f "$seeds.dict" ] && dict=(-dict="$seeds.dict")
artifacts=${FUZZ_ARTIFACTS:-$(dirname "$fuzzer")}
log=$(mktemp "${TMPDIR:-/tmp}/fuzz-log.XXXXXX")
status=0
"$fuzzer" -max_total_time="${FUZZ_SECONDS:-${3:-30}}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "${dict[@]}" "$corpus" "$seeds" >"$log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
    tail -80 "$log"
else
    grep -E '^(stat::|INFO: (seed corpus|Loaded))|Done [0-9]+ runs' "$log"
fi
rm -f "$log"
exit "$status"
