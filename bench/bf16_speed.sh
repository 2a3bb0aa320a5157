#!/usr/bin/env bash
# bench/bf16_speed.sh — netrun's step at precision bf16 against f32 (option precision,
# runtime/cpu/conv_bf16.h), paired and alternating: for each configuration and mode, ROUNDS
# rounds of `netrun bench` at f32 then bf16 (the order swapped every other round), each
# round's figure its own median step; prints per configuration and mode the median and best
# of the rounds for both, f32 / bf16 of each (> 1: bf16 is faster), the precision netrun
# reported, and the load average around the runs.
#
#   bench/bf16_speed.sh                       # the three configurations of issue 21
#   CONFIGS="c" MODES=infer ROUNDS=5 bench/bf16_speed.sh
#
# Configurations: a (models/unet.net: base 64, 256x256, batch 1), b (unet.net: base 16,
# 128x128, batch 8), c (models/unet_nn.net: base 16, 128x128, batch 8).  Environment: CONFIGS
# (default "a b c"), MODES (default "train infer"), ROUNDS (default 3), STEPS (default 5),
# WARMUP (default 2), THREADS (default 2), BUILD (default build), OUT (default
# $BUILD/bf16_speed).  OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for every run.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGS=${CONFIGS:-"a b c"}
MODES=${MODES:-"train infer"}
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-5}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-2}
BUILD=${BUILD:-build}
OUT=${OUT:-$BUILD/bf16_speed}
declare -A MODEL=([a]=models/unet.net [b]=models/unet.net [c]=models/unet_nn.net)
declare -A DEFS=([a]="BASE=64 SIZE=256 BATCH=1" [b]="BASE=16 SIZE=128 BATCH=8" [c]="BASE=16 SIZE=128 BATCH=8")
die() { echo "bf16_speed.sh: $*" >&2; exit 1; }
for c in $CONFIGS; do [ -n "${DEFS[$c]:-}" ] || die "no configuration '$c' (a, b, c)"; done
ninja -C "$BUILD" compiler/netc runtime/netrun >/dev/null || die "build failed"
mkdir -p "$OUT"
echo "bf16_speed: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')," \
     "tree $(git rev-parse --short HEAD), $THREADS threads, $ROUNDS rounds of $STEPS steps after $WARMUP"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| config | mode | f32 median s | bf16 median s | f32/bf16 (medians) | f32 best s | bf16 best s | f32/bf16 (best) | precision reported |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for c in $CONFIGS; do
    g=$OUT/$c.netg
    defs=()
    for d in ${DEFS[$c]}; do defs+=(-D "$d"); done
    "$BUILD/compiler/netc" "${MODEL[$c]}" "${defs[@]}" -o "$g"
    for m in $MODES; do
        : > "$OUT/$c-$m.tsv"
        for r in $(seq "$ROUNDS"); do
            order="f32 bf16"
            [ $((r % 2)) = 0 ] && order="bf16 f32"
            for p in $order; do
                env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$BUILD/runtime/netrun" bench "$g" --entry "$m" \
                    --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS" --set precision="$p" --json \
                    > "$OUT/$c-$m-$r-$p.json" 2> "$OUT/$c-$m-$r-$p.err"
                /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(sys.argv[2], d["median_s"], d["precision"])' \
                    "$OUT/$c-$m-$r-$p.json" "$p" >> "$OUT/$c-$m.tsv"
            done
        done
        /usr/bin/python3 - "$OUT/$c-$m.tsv" "$c (${DEFS[$c]}, ${MODEL[$c]##*/})" "$m" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
t = {p: [float(s) for q, s, _ in rows if q == p] for p in ("f32", "bf16")}
got = sorted({r for q, _, r in rows if q == "bf16"})
med = {p: statistics.median(v) for p, v in t.items()}
best = {p: min(v) for p, v in t.items()}
print(f"| {sys.argv[2]} | {sys.argv[3]} | {med['f32']:.4f} | {med['bf16']:.4f} | {med['f32'] / med['bf16']:.2f} | "
      f"{best['f32']:.4f} | {best['bf16']:.4f} | {best['f32'] / best['bf16']:.2f} | {','.join(got)} |")
PY
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
