#!/usr/bin/env bash
# e2e_imbalance.sh — the mission's claim, deterministic with fixed seeds: on
# the example data (>= 97% background) the class-weighted model beats the
# unweighted one on foreground mIoU after the same number of steps, while
# the unweighted one shows the higher pixel accuracy; median-frequency weights
# and cross-entropy + Dice (models/unet_dice.net) beat plain cross-entropy too.  Five classes (four
# brightness levels) keep the run short enough for CI.
. "$(dirname "$0")/e2e_lib.sh"
M=$SOURCE_ROOT/models/unet.net
D=$WORK/train V=$WORK/val
"$GEN_DATA" --out "$D" --count 96 --size 32 --classes 5 --seed 11 >/dev/null
"$GEN_DATA" --out "$V" --count 32 --size 32 --classes 5 --seed 12 >/dev/null
common=(-D BASE=8 -D SIZE=32 -D DEPTH=2 -D BATCH=4 -D CLASSES=5 -D LR=3e-3)
"$NETC" "$M" "${common[@]}" -o "$WORK/weighted.netg"
"$NETC" "$M" "${common[@]}" -D WEIGHTS=none -o "$WORK/plain.netg"
"$NETC" "$M" "${common[@]}" -D WEIGHTS=median_freq -o "$WORK/median.netg"
"$NETC" "$SOURCE_ROOT/models/unet_dice.net" "${common[@]}" -o "$WORK/dice.netg"
for m in weighted plain median dice; do
    "$NETRUN" train "$WORK/$m.netg" --data "$D" --epochs 10 --seed 3 --out "$WORK/$m" --quiet || fail "train $m"
    "$NETRUN" eval "$WORK/$m.netg" --weights "$WORK/$m/last.safetensors" --data "$V" --json > "$WORK/$m.json" || fail "eval $m"
done
# the trap, detected: early in training the plain model predicts background only
expect 0 "collapsing toward class 0" "netrun warns of the collapse in plain words" -- \
    "$NETRUN" train "$WORK/plain.netg" --data "$D" --val "$V" --epochs 1 --seed 3 --out "$WORK/collapse"
wi=$(json_num "$WORK/weighted.json" miou_foreground); pi=$(json_num "$WORK/plain.json" miou_foreground)
wa=$(json_num "$WORK/weighted.json" pixel_accuracy); pa=$(json_num "$WORK/plain.json" pixel_accuracy)
echo "# weighted: foreground mIoU $wi, pixel accuracy $wa"
echo "# plain:    foreground mIoU $pi, pixel accuracy $pa"
awk -v w="$wi" -v p="$pi" 'BEGIN { exit !(w > p + 0.1) }' && ok "weighted foreground mIoU clearly higher" \
    || fail "weighted foreground mIoU $wi is not clearly above plain $pi"
awk -v w="$wa" -v p="$pa" 'BEGIN { exit !(p > w) }' && ok "unweighted pixel accuracy higher" \
    || fail "unweighted pixel accuracy $pa is not above weighted $wa"
for m in median dice; do
    v=$(json_num "$WORK/$m.json" miou_foreground)
    echo "# $m: foreground mIoU $v, pixel accuracy $(json_num "$WORK/$m.json" pixel_accuracy)"
    awk -v w="$v" -v p="$pi" 'BEGIN { exit !(w > p + 0.05) }' && ok "$m beats plain cross-entropy on foreground mIoU" \
        || fail "$m foreground mIoU $v is not above plain $pi"
done
finish
