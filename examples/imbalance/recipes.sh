#!/usr/bin/env bash
# recipes.sh — the recipe study: the same small U-Net trained six ways at the
# same number of optimizer steps, several seeds each, on generated data at the
# user's imbalance (32 classes, ~99% background), then one table per setting.
#   plain cross-entropy       models/unet.net -D TAU=0   (the user's setup)
#   balanced CE               models/unet.net -D TAU=0 -D WEIGHTS=balanced -D CLIP=50
#   CE + Dice                 models/unet_dice.net
#   logit-adjusted CE         models/unet_la.net
#   CE + Lovasz               models/unet_lovasz.net
#   full recipe               models/unet_nn.net, evaluated with --tta
#   PyTorch nnU-Net-style     bench/torch_recipe.py (the reference: instance norm, leaky ReLU,
#                             CE + batch Dice, 1/3 foreground-class sampling, Adam 1e-3 poly, clip 12)
#   full recipe + EMA         models/unet_nn.net trained with --set ema=0.999, evaluated with --tta
# Every row is a model file or -D switches (no C).  The unet*.net rows use
# their Adam with Keras's element clip at LR 3e-3 (their 1e-4 default is for
# the full-size network); unet_nn.net uses its own defaults.
# Environment: GEN (gen_data: the project's shapes; glyphs: examples/glyphs/gen_glyphs.py,
# font glyphs among clutter, the second benchmark), SETTINGS ("99 97": at most 1 or 3
# objects per image, ~99% or ~97% background; glyphs: ~98.3% or ~95%), CLASSES (32), SIZE (32, the model's input), IMAGE (the images'
# size, SIZE: larger trains on random crops, evaluates by sliding window),
# COUNT (320 training images), VAL (640 validation images: enough that every
# class is present, so a class at IoU 0 is one the model missed, not one
# absent from validation and predicted once), STEPS (1600), SEEDS ("1 2 3"), RECIPES (row numbers, "0 1 2 3 4 5 6 7"),
# THREADS (1 per run; JOBS (1) runs go side by side), BUILD (build), OUT ($BUILD/recipes; with
# GEN=glyphs $BUILD/recipes-glyphs).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/deps.sh
netc_install_deps
[ "${GEN:-gen_data}" = glyphs ] && netc_install_deps "python3-numpy python3-pil fonts-dejavu-core"
BUILD=${BUILD:-build}
netc_build "$BUILD" >/dev/null

SETTINGS=${SETTINGS:-"99 97"} CLASSES=${CLASSES:-32} SIZE=${SIZE:-32} IMAGE=${IMAGE:-${SIZE:-32}} COUNT=${COUNT:-320} VAL=${VAL:-640}
STEPS=${STEPS:-1600} SEEDS=${SEEDS:-"1 2 3"} RECIPES=${RECIPES:-"0 1 2 3 4 5 6 7"}
THREADS=${THREADS:-1} JOBS=${JOBS:-1}
GEN=${GEN:-gen_data}
OUT=${OUT:-$BUILD/recipes$([ "$GEN" = gen_data ] || echo "-$GEN")}
mkdir -p "$OUT"
SMALL=(-D BASE=8 -D SIZE="$SIZE" -D DEPTH=3 -D BATCH=4 -D CLASSES="$CLASSES")

names=("plain cross-entropy" "balanced CE (clip 50)" "CE + Dice" "logit-adjusted CE" "CE + Lovasz" "full recipe (unet_nn + TTA)"
       "PyTorch nnU-Net-style" "full recipe + EMA 0.999 (+ TTA)")
models=(models/unet.net models/unet.net models/unet_dice.net models/unet_la.net models/unet_lovasz.net models/unet_nn.net
        "" models/unet_nn.net)
defs=("-D TAU=0 -D LR=3e-3" "-D TAU=0 -D WEIGHTS=balanced -D CLIP=50 -D LR=3e-3" "-D LR=3e-3" "-D LR=3e-3" "-D LR=3e-3" "" ""
      "")
evalflags=("" "" "" "" "" "--tta" "" "--tta")
trainflags=("" "" "" "" "" "" "" "--set ema=0.999")

# one run: train, evaluate, one line "pixel_acc fg_miou worst_fg fg_classes_at_iou_0"
run() { # setting recipe seed
    local s=$1 i=$2 seed=$3 r=$OUT/$1/run$2-$3
    if [ "$i" = 6 ]; then # the PyTorch reference, SMALL's network
        /usr/bin/python3 bench/torch_recipe.py --data "$OUT/$s/data/train" --val "$OUT/$s/data/val" \
            --steps "$STEPS" --base 8 --depth 3 --batch 4 --classes "$CLASSES" --seed "$seed" \
            --threads "$THREADS" --json "$r.json" > "$r.log" 2>&1
    else
        # shellcheck disable=SC2086
        "$BUILD"/runtime/netrun train "$OUT/$s/recipe$i.netg" --data "$OUT/$s/data/train" --steps "$STEPS" \
            --seed "$seed" --out "$r" --overwrite --quiet --threads "$THREADS" ${trainflags[$i]} > "$r.log" 2>&1
        # shellcheck disable=SC2086
        "$BUILD"/runtime/netrun eval "$OUT/$s/recipe$i.netg" --weights "$r/last.safetensors" \
            --data "$OUT/$s/data/val" --json --pooled-only --threads "$THREADS" ${evalflags[$i]} > "$r.json"
    fi
    num() { grep -o "\"$1\":[-0-9.eE+null]*" "$r.json" | head -1 | cut -d: -f2 | sed 's/null/nan/'; }
    # foreground classes whose IoU is 0 (null: absent from truth and prediction)
    zeros=$(grep -o '"iou":\[[^]]*\]' "$r.json" | head -1 | sed 's/"iou":\[//; s/\]//' | tr ',' '\n' | tail -n +2 |
        grep -cx '0' || true) # the pooled list, the first (per_image follows it)
    echo "$(num pixel_accuracy) $(num miou_foreground) $(num worst_iou_foreground) $zeros" > "$r.score"
}

for s in $SETTINGS; do
    case $s in 99) objects=1 ;; 97) objects=3 ;; *) echo "recipes.sh: setting $s is 99 or 97" >&2; exit 2 ;; esac
    D=$OUT/$s/data
    mkdir -p "$OUT/$s"
    gen() {
        case $GEN in
        gen_data) "$BUILD"/examples/gen_data --out "$1" --count "$2" --size "$IMAGE" --classes "$CLASSES" --max-objects "$objects" --seed "$3" ;;
        glyphs) /usr/bin/python3 examples/glyphs/gen_glyphs.py --out "$1" --count "$2" --size "$IMAGE" --classes "$CLASSES" --max-objects "$objects" --seed "$3" ;;
        *) echo "recipes.sh: GEN is gen_data or glyphs, not $GEN" >&2; exit 2 ;;
        esac
    }
    [ -d "$D/train" ] || gen "$D/train" "$COUNT" 11 > "$D.train.log"
    [ -d "$D/val" ] || gen "$D/val" "$VAL" 12 > "$D.val.log"
    for i in ${RECIPES//6/}; do
        # shellcheck disable=SC2086
        "$BUILD"/compiler/netc "${models[$i]}" "${SMALL[@]}" ${defs[$i]} -o "$OUT/$s/recipe$i.netg"
    done
    # every (recipe, seed) run, JOBS at a time
    for i in $RECIPES; do for seed in $SEEDS; do echo "$i $seed"; done; done | {
        while read -r i seed; do
            while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
            run "$s" "$i" "$seed" &
        done
        wait
    }
    printf '%s\n' "recipe|pixel acc|fg mIoU|(min..max)|worst fg IoU|fg classes at IoU 0" > "$OUT/$s/table.txt"
    for i in $RECIPES; do
        for seed in $SEEDS; do cat "$OUT/$s/run$i-$seed.score"; done |
            awk -v name="${names[$i]}" '{ a += $1; m += $2; w += $3; z += $4; n++
                                          if (n == 1 || $2 < lo) lo = $2; if (n == 1 || $2 > hi) hi = $2 }
                END { printf "%s|%.4f|%.4f|(%.3f..%.3f)|%.4f|%.1f\n", name, a / n, m / n, lo, hi, w / n, z / n }' \
            >> "$OUT/$s/table.txt"
    done
    echo
    echo "setting $s: $STEPS steps of batch 4 on $COUNT images ${IMAGE}x${IMAGE} (model input ${SIZE}x${SIZE}), $CLASSES classes, at most $objects object(s) per image;"
    echo "seeds $SEEDS (means); validation on $VAL images, $(grep -o '[0-9.]*% of pixels' "$D.val.log" | head -1) background"
    awk -F'|' '{ printf "%-30s %10s %8s %15s %13s %20s\n", $1, $2, $3, $4, $5, $6 }' "$OUT/$s/table.txt"
done
