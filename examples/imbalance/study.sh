#!/usr/bin/env bash
# study.sh — the imbalance study: the small U-Net trained on the example data
# five ways, each a model file or a -D switch (no C), then one table of
# pixel accuracy, foreground mIoU and worst foreground IoU on validation data.
#   1 plain cross-entropy        models/unet.net -D WEIGHTS=none
#   2 balanced class weights     models/unet.net
#   3 median-frequency weights   models/unet.net -D WEIGHTS=median_freq
#   4 cross-entropy + soft Dice  models/unet_dice.net
#   5 focal loss                 models/unet_focal.net
# Environment: CLASSES (8), SIZE (32), COUNT (160), OBJECTS (at most per image, 1: ~99%
# background as in the user's data), EPOCHS (12), SEED (3), CLIP (largest class weight, 0: none),
# OUT (build/imbalance).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/deps.sh
netc_install_deps
netc_build build >/dev/null

CLASSES=${CLASSES:-8} SIZE=${SIZE:-32} COUNT=${COUNT:-160} EPOCHS=${EPOCHS:-12} SEED=${SEED:-3}
OBJECTS=${OBJECTS:-1} CLIP=${CLIP:-0}
OUT=${OUT:-build/imbalance}
mkdir -p "$OUT"
D=$OUT/data-$CLASSES-$SIZE-$COUNT-$OBJECTS
gen() { build/examples/gen_data --out "$1" --count "$2" --size "$SIZE" --classes "$CLASSES" --max-objects "$OBJECTS" --seed "$3"; }
[ -d "$D/train" ] || gen "$D/train" "$COUNT" 11
[ -d "$D/val" ] || gen "$D/val" $((COUNT / 4)) 12 > "$D/val.log"
SMALL=(-D BASE=8 -D SIZE="$SIZE" -D DEPTH=2 -D BATCH=4 -D CLASSES="$CLASSES" -D LR=3e-3)

names=("plain cross-entropy" "balanced weights" "median-frequency weights" "cross-entropy + Dice" "focal loss")
models=(models/unet.net models/unet.net models/unet.net models/unet_dice.net models/unet_focal.net)
extra=("-D WEIGHTS=none" "-D CLIP=$CLIP" "-D WEIGHTS=median_freq -D CLIP=$CLIP" "" "")
rows=()
for i in 0 1 2 3 4; do
    g=$OUT/study$i.netg
    # shellcheck disable=SC2086
    build/compiler/netc "${models[$i]}" "${SMALL[@]}" ${extra[$i]} -o "$g"
    echo "== ${names[$i]}: netc ${models[$i]} ${extra[$i]}"
    build/runtime/netrun train "$g" --data "$D/train" --epochs "$EPOCHS" --seed "$SEED" --out "$OUT/run$i" --quiet
    build/runtime/netrun eval "$g" --weights "$OUT/run$i/last.safetensors" --data "$D/val" --json > "$OUT/eval$i.json"
    num() { grep -o "\"$1\":[-0-9.eE+null]*" "$OUT/eval$i.json" | head -1 | cut -d: -f2; }
    rows+=("$(printf '%-26s %10.4f %12.4f %12.4f' "${names[$i]}" "$(num pixel_accuracy)" \
        "$(num miou_foreground)" "$(num worst_iou_foreground | sed 's/null/nan/')")")
done
echo
echo "$EPOCHS epochs of $COUNT images ${SIZE}x${SIZE}, $CLASSES classes, at most $OBJECTS objects per image,"
echo "class-weight clip $CLIP, seed $SEED; validation on $((COUNT / 4)) images: $(grep -o '[0-9.]*% of pixels' "$D/val.log" 2>/dev/null || true) background"
printf '%-26s %10s %12s %12s\n' "loss" "pixel acc" "fg mIoU" "worst IoU"
printf '%s\n' "${rows[@]}"
