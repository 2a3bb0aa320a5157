#!/usr/bin/env bash
# e2e_imbalance.sh — the mission's claim, deterministic with fixed seeds: on
# the example data (>= 97% background) the class-weighted model beats the
# unweighted one on foreground mIoU after the same number of steps, while
# the unweighted one shows the higher pixel accuracy; median-frequency weights
# and cross-entropy + Dice (models/unet_dice.net) beat plain cross-entropy too.  Five classes (four
# brightness levels) keep the run short enough for CI.  Each figure is the
# mean over five training seeds: one run of so small a problem is chaotic
# (a change in the last bit of a kernel moves its fg mIoU by 0.2), the mean
# of five is what the claim is about.  Measured with the kernels of
# 2026-11-29 (means of seeds 3-7): plain 0.116, weighted 0.209, median 0.161,
# Dice 0.269; the margin asked of each remedy is 0.03.
. "$(dirname "$0")/e2e_lib.sh"
M=$SOURCE_ROOT/models/unet.net
D=$WORK/train V=$WORK/val
COUNT=96 VCOUNT=32 SEEDS="3 4 5 6 7" EPOCHS=10 BASE=8
# QUICK (valgrind, sanitizers): the same code paths once, on less data; the claim needs full runs
[ "$QUICK" = 1 ] && COUNT=16 VCOUNT=8 SEEDS=3 EPOCHS=1 BASE=2
"$GEN_DATA" --out "$D" --count "$COUNT" --size 32 --classes 5 --seed 11 >/dev/null
"$GEN_DATA" --out "$V" --count "$VCOUNT" --size 32 --classes 5 --seed 12 >/dev/null
common=(-D BASE=$BASE -D SIZE=32 -D DEPTH=2 -D BATCH=4 -D CLASSES=5 -D LR=3e-3)
"$NETC" "$M" "${common[@]}" -D TAU=0 -D WEIGHTS=balanced -o "$WORK/weighted.netg"
"$NETC" "$M" "${common[@]}" -D TAU=0 -o "$WORK/plain.netg"
"$NETC" "$M" "${common[@]}" -D TAU=0 -D WEIGHTS=median_freq -o "$WORK/median.netg"
"$NETC" "$SOURCE_ROOT/models/unet_dice.net" "${common[@]}" -o "$WORK/dice.netg"
for m in weighted plain median dice; do
    for s in $SEEDS; do
        "$NETRUN" train "$WORK/$m.netg" --data "$D" --epochs "$EPOCHS" --seed "$s" --out "$WORK/$m.$s" --quiet ||
            fail "train $m seed $s"
        "$NETRUN" eval "$WORK/$m.netg" --weights "$WORK/$m.$s/last.safetensors" --data "$V" --json \
            > "$WORK/$m.$s.json" || fail "eval $m seed $s"
    done
done
# mean over the seeds of a number in the eval JSON
mean() {
    local sum=0 s
    for s in $SEEDS; do sum=$(awk -v a="$sum" -v b="$(json_num "$WORK/$1.$s.json" "$2")" 'BEGIN { print a + b }'); done
    awk -v a="$sum" -v n="$(echo $SEEDS | wc -w)" 'BEGIN { printf "%.6f", a / n }'
}
if [ "$QUICK" = 1 ]; then
    echo "# skip: the claim's comparisons (QUICK: one short run)"
    finish
    exit
fi
# the trap, detected: early in training the plain model predicts background only
expect 0 "collapsing toward class 0" "netrun warns of the collapse in plain words" -- \
    "$NETRUN" train "$WORK/plain.netg" --data "$D" --val "$V" --epochs 1 --seed 3 --out "$WORK/collapse"
wi=$(mean weighted miou_foreground); pi=$(mean plain miou_foreground)
wa=$(mean weighted pixel_accuracy); pa=$(mean plain pixel_accuracy)
echo "# means over seeds $SEEDS"
echo "# weighted: foreground mIoU $wi, pixel accuracy $wa"
echo "# plain:    foreground mIoU $pi, pixel accuracy $pa"
awk -v w="$wi" -v p="$pi" 'BEGIN { exit !(w > p + 0.03) }' && ok "weighted foreground mIoU higher" \
    || fail "weighted foreground mIoU $wi is not above plain $pi"
awk -v w="$wa" -v p="$pa" 'BEGIN { exit !(p > w) }' && ok "unweighted pixel accuracy higher" \
    || fail "unweighted pixel accuracy $pa is not above weighted $wa"
for m in median dice; do
    v=$(mean $m miou_foreground)
    echo "# $m: foreground mIoU $v, pixel accuracy $(mean $m pixel_accuracy)"
    awk -v w="$v" -v p="$pi" 'BEGIN { exit !(w > p + 0.03) }' && ok "$m beats plain cross-entropy on foreground mIoU" \
        || fail "$m foreground mIoU $v is not above plain $pi"
done
finish
