#!/usr/bin/env bash
# bench/plan_vs_quickstart.sh — `netrun plan` against the quickstart's hand-chosen configuration
# at the same wall-clock budget (issue 23): the quickstart's data (400 train, 80 val, 64x64, 32
# classes), its model (models/unet_nn.net -D BASE=16 -D SIZE=64 -D DEPTH=3 -D BATCH=8) trained
# EPOCHS epochs as examples/quickstart.sh does; its training wall time T; then `netrun plan
# --time T` on the training set (default --memory), the planned file trained the planned steps
# with the same validation; both best checkpoints evaluated with --tta as the quickstart does.
#
#   bench/plan_vs_quickstart.sh            # from the repository root; about 2 x T
#   EPOCHS=5 bench/plan_vs_quickstart.sh   # shorter
#
# Environment: EPOCHS (default 20, the quickstart's), OUT (default build/bench-plan), SEED (1),
# NO_BUILD=1 (skip ninja).  Prints one line per configuration: its consts, steps, training wall
# time and the validation fg mIoU of its best checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

EPOCHS=${EPOCHS:-20}
OUT=${OUT:-build/bench-plan}
SEED=${SEED:-1}
[ "${NO_BUILD:-0}" = 1 ] || ninja -C build > /dev/null
NETC=build/compiler/netc
NETRUN=build/runtime/netrun
DATA=$OUT/data
mkdir -p "$OUT"
[ -d "$DATA/train" ] || build/examples/gen_data --out "$DATA/train" --count 400 --size 64 --classes 32 --seed 1 > /dev/null
[ -d "$DATA/val" ] || build/examples/gen_data --out "$DATA/val" --count 80 --size 64 --classes 32 --seed 2 > /dev/null

fg_miou() { grep -o '"miou_foreground": *[-0-9.eE+]*' "$1" | head -1 | sed 's/.*: *//'; }

# train NAME NETG STEPS_OR_EPOCHS...: wall seconds of the training into $OUT/NAME.seconds
train() {
    local name=$1 netg=$2
    shift 2
    rm -rf "$OUT/$name"
    local t0 t1
    t0=$(date +%s.%N)
    "$NETRUN" train "$netg" --data "$DATA/train" --val "$DATA/val" --seed "$SEED" --out "$OUT/$name" --quiet "$@"
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc > "$OUT/$name.seconds"
    "$NETRUN" eval "$netg" --weights "$OUT/$name/best.safetensors" --data "$DATA/val" --tta --json > "$OUT/$name.eval.json"
}

"$NETC" models/unet_nn.net -D BASE=16 -D SIZE=64 -D DEPTH=3 -D BATCH=8 -o "$OUT/quickstart.netg"
train quickstart "$OUT/quickstart.netg" --epochs "$EPOCHS" --set foreground=0
T=$(cat "$OUT/quickstart.seconds")

"$NETRUN" plan "$DATA/train" --time "${T}s" -o "$OUT/planned.net" --json > "$OUT/plan.json"
STEPS=$(grep -o '"steps": [0-9]*' "$OUT/plan.json" | cut -d' ' -f2)
"$NETC" "$OUT/planned.net" -o "$OUT/planned.netg"
train planned "$OUT/planned.netg" --steps "$STEPS"

printf '%-11s %-40s %7s %9s %8s\n' config consts steps "train s" "fg mIoU"
printf '%-11s %-40s %7s %9.0f %8.4f\n' quickstart "BASE 16 SIZE 64 DEPTH 3 BATCH 8" $((EPOCHS * 50)) \
    "$T" "$(fg_miou "$OUT/quickstart.eval.json")"
printf '%-11s %-40s %7s %9.0f %8.4f\n' planned \
    "$(grep -o '"config": {[^}]*}' "$OUT/plan.json" | sed 's/"config": {//; s/, "crops.*//; s/[",:]//g')" "$STEPS" \
    "$(cat "$OUT/planned.seconds")" "$(fg_miou "$OUT/planned.eval.json")"
