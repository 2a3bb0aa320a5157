#!/usr/bin/env bash
# bench/eval_metrics.sh — what eval's per-image metrics cost (issue 22: under 10% of eval's time):
# `netrun eval --tta` (pooled, per-image IoU/Dice, HD95, NSD, boundary IoU, the ECE) against
# `netrun eval --tta --pooled-only` (the confusion matrix alone), alternating, paired, with
# farm-bench, on the quickstart's run and validation set (run examples/quickstart.sh first).
# Prints farm-bench's table: the median A/B ratio of cpu and wall seconds is the figure.
#
#   bench/eval_metrics.sh                 # 10 pairs
#   RUNS=20 Q=build/quickstart bench/eval_metrics.sh
set -euo pipefail
cd "$(dirname "$0")/.."
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
Q=${Q:-build/quickstart}
VAL=${VAL:-build/example-data/val}
RUNS=${RUNS:-10}
[ -f "$Q/run/best.safetensors" ] || { echo "no $Q/run/best.safetensors: run examples/quickstart.sh first" >&2; exit 1; }
EVAL="build/runtime/netrun eval $Q/unet-small.netg --weights $Q/run/best.safetensors --data $VAL --tta"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
farm-bench -n "$RUNS" --timeout 1200 --vs "$EVAL --pooled-only" -- $EVAL
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
