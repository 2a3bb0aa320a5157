#!/usr/bin/env bash
# study.sh — the imbalance study: the small U-Net trained on the example data
# five ways, each a model file or a -D switch (no C), then one table of
# pixel accuracy, foreground mIoU and worst foreground IoU on validation data.
#   1 plain cross-entropy        models/unet.net -D TAU=0
#   2 balanced class weights     models/unet.net -D TAU=0 -D WEIGHTS=balanced
#   3 median-frequency weights   models/unet.net -D TAU=0 -D WEIGHTS=median_freq
#   4 cross-entropy + soft Dice  models/unet_dice.net
#   5 focal loss                 models/unet_focal.net
# Another architecture: study.sh MODEL.net (or NET=MODEL.net), e.g. models/resunet.net,
# models/attention_unet.net or models/unet_transposed.net: it replaces models/unet.net in
# rows 1-3 (rows 4 and 5 are files of their own with unet.net's network, so they run only
# for models/unet.net unless ROWS asks for them).  ROWS: the rows to run, numbered 0..4
# ("0 1 2 3 4" for unet.net, "0 1 2" otherwise); DEFS: more -D flags for every row (e.g.
# "-D GROUPS=4"); BUILD: the build folder (build).
# Environment: CLASSES (5), SIZE (32), COUNT (96), OBJECTS (at most per image: 3 gives ~97%
# background, 1 ~99% as in the user's data), EPOCHS (10), SEEDS ("1 2 3"), CLIP (largest class weight, 0: none),
# OUT (build/imbalance).  Several seeds, because one run of such a small problem is chaotic:
# balanced and median_freq give the same loss up to rounding, yet their runs part after a
# few epochs.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/deps.sh
netc_install_deps
NET=${1:-${NET:-models/unet.net}}
BUILD=${BUILD:-build}
[ -f "$NET" ] || { echo "study.sh: $NET: no such model file" >&2; exit 2; }
if [ "$NET" = models/unet.net ]; then ROWS=${ROWS:-"0 1 2 3 4"}; else ROWS=${ROWS:-"0 1 2"}; fi
DEFS=${DEFS:-}
netc_build "$BUILD" >/dev/null

CLASSES=${CLASSES:-5} SIZE=${SIZE:-32} COUNT=${COUNT:-96} EPOCHS=${EPOCHS:-10} SEEDS=${SEEDS:-"1 2 3"}
OBJECTS=${OBJECTS:-3} CLIP=${CLIP:-0}
OUT=${OUT:-$BUILD/imbalance}
mkdir -p "$OUT"
D=$OUT/data-$CLASSES-$SIZE-$COUNT-$OBJECTS
gen() { "$BUILD"/examples/gen_data --out "$1" --count "$2" --size "$SIZE" --classes "$CLASSES" --max-objects "$OBJECTS" --seed "$3"; }
[ -d "$D/train" ] || gen "$D/train" "$COUNT" 11
[ -d "$D/val" ] || gen "$D/val" $((COUNT / 4)) 12 > "$D/val.log"
SMALL=(-D BASE=8 -D SIZE="$SIZE" -D DEPTH=2 -D BATCH=4 -D CLASSES="$CLASSES" -D LR=3e-3)

names=("plain cross-entropy" "balanced weights" "median-frequency weights" "cross-entropy + Dice" "focal loss")
models=("$NET" "$NET" "$NET" models/unet_dice.net models/unet_focal.net)
# rows 0-2 are cross-entropy without logit adjustment (models/unet.net's default TAU = 1)
tau=""
grep -qE "^const TAU " "$NET" && tau="-D TAU=0"
extra=("-D WEIGHTS=none $tau" "-D WEIGHTS=balanced -D CLIP=$CLIP $tau" "-D WEIGHTS=median_freq -D CLIP=$CLIP $tau" "" "")
# one row per loss: means over the seeds, and the range of the foreground mIoU
printf '%s\n' "loss|pixel acc|fg mIoU|(min..max)|worst IoU" > "$OUT/table.txt"
for i in $ROWS; do
    g=$OUT/study$i.netg
    # shellcheck disable=SC2086
    "$BUILD"/compiler/netc "${models[$i]}" "${SMALL[@]}" ${extra[$i]} $DEFS -o "$g"
    echo "== ${names[$i]}: netc ${models[$i]} ${extra[$i]} $DEFS"
    : > "$OUT/scores$i.txt"
    for seed in $SEEDS; do
        "$BUILD"/runtime/netrun train "$g" --data "$D/train" --epochs "$EPOCHS" --seed "$seed" --out "$OUT/run$i-$seed" --overwrite --quiet
        "$BUILD"/runtime/netrun eval "$g" --weights "$OUT/run$i-$seed/last.safetensors" --data "$D/val" --json > "$OUT/eval$i-$seed.json"
        num() { grep -o "\"$1\":[-0-9.eE+null]*" "$OUT/eval$i-$seed.json" | head -1 | cut -d: -f2 | sed 's/null/nan/'; }
        echo "$(num pixel_accuracy) $(num miou_foreground) $(num worst_iou_foreground)" >> "$OUT/scores$i.txt"
        echo "   seed $seed: pixel accuracy $(num pixel_accuracy), foreground mIoU $(num miou_foreground)"
    done
    awk -v name="${names[$i]}" '{ a += $1; m += $2; w += $3; n++; if (n == 1 || $2 < lo) lo = $2; if (n == 1 || $2 > hi) hi = $2 }
        END { printf "%s|%.4f|%.4f|(%.3f..%.3f)|%.4f\n", name, a / n, m / n, lo, hi, w / n }' "$OUT/scores$i.txt" >> "$OUT/table.txt"
done
echo
echo "$NET: $EPOCHS epochs of $COUNT images ${SIZE}x${SIZE}, $CLASSES classes, at most $OBJECTS objects per image,"
echo "class-weight clip $CLIP, seeds $SEEDS (means); validation on $((COUNT / 4)) images: $(grep -o '[0-9.]*% of pixels' "$D/val.log" 2>/dev/null || true) background"
awk -F'|' '{ printf "%-26s %10s %10s %15s %10s\n", $1, $2, $3, $4, $5 }' "$OUT/table.txt"
