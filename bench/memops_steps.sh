#!/usr/bin/env bash
# bench/memops_steps.sh — the training step of two netrun builds, alternating
# (issue 21, the memory-bound ops of the small networks): `netrun bench
# --json` on three graphs, ROUNDS rounds each, old then new in every round.
#
#   bench/memops_steps.sh OLD_NETRUN NEW_NETRUN
#
# Graphs (compiled by build/compiler/netc): config 4 of bench/compare.sh
# (models/unet.net -D BASE=8 -D SIZE=64 -D BATCH=16), config 3 (BASE=16
# SIZE=128 BATCH=8) and the recipe network (models/unet_nn.net -D BASE=16
# -D SIZE=128 -D BATCH=8: instance norm, leaky ReLU, deep supervision,
# logit-adjusted CE).  ROUNDS (default 5), STEPS (default 10 per run),
# THREADS (default 2).  Prints per graph the median and best step of each
# build and their ratio, and the memory-bound ops' ms per step (medians over
# the rounds), with the load average seen.  OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE are unset.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2
ROUNDS=${ROUNDS:-5} STEPS=${STEPS:-10} THREADS=${THREADS:-2}
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
work=$(mktemp -d /tmp/memops_steps.XXXXXX)
trap 'rm -rf "$work"' EXIT
build/compiler/netc models/unet.net -D BASE=8 -D SIZE=64 -D BATCH=16 -o "$work/config4.netg"
build/compiler/netc models/unet.net -D BASE=16 -D SIZE=128 -D BATCH=8 -o "$work/config3.netg"
build/compiler/netc models/unet_nn.net -D BASE=16 -D SIZE=128 -D BATCH=8 -o "$work/recipe.netg"
loads=()
for r in $(seq 1 "$ROUNDS"); do
    for g in config4 config3 recipe; do
        for which in old new; do
            "${!which}" bench "$work/$g.netg" --steps "$STEPS" --threads "$THREADS" --json > "$work/$g.$which.$r.json"
        done
    done
    loads+=("$(cut -d' ' -f1 /proc/loadavg)")
done
/usr/bin/python3 - "$work" "$ROUNDS" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
ops = ["cross_entropy", "cross_entropy_bwd", "relu_bwd", "leaky_relu_bwd", "maxpool_bwd", "upsample_bwd",
       "conv2d_bwd_bias", "adam", "concat", "slice_channels", "add"]
for g in ["config4", "config3", "recipe"]:
    runs = {w: [json.load(open(f"{work}/{g}.{w}.{r}.json")) for r in range(1, rounds + 1)] for w in ["old", "new"]}
    med = {w: statistics.median(j["median_s"] for j in runs[w]) for w in runs}
    best = {w: min(j["min_s"] for j in runs[w]) for w in runs}
    print(f"{g}: step median of medians old {med['old']:.4f} s, new {med['new']:.4f} s ({med['old'] / med['new']:.2f}x); "
          f"best old {best['old']:.4f} s, new {best['new']:.4f} s ({best['old'] / best['new']:.2f}x); "
          f"new {runs['new'][0]['flops'] / med['new'] * 1e-9:.1f} GFLOP/s")
    for op in ops:
        t = {w: statistics.median(sum(o["s_per_step"] for o in j["ops"] if o["op"] == op) for j in runs[w]) for w in runs}
        if t["old"] or t["new"]:
            print(f"  {op:18s} old {t['old'] * 1e3:8.3f} ms  new {t['new'] * 1e3:8.3f} ms")
PY
echo "load average after each round: ${loads[*]}"
