#!/usr/bin/env bash
# recipes.sh — the recipe study: the same small U-Net trained several ways at the
# same number of optimizer steps, several seeds each, on generated data at the
# user's imbalance (32 classes, ~99% background), then one table per setting.
#   plain cross-entropy       models/unet.net -D TAU=0   (the user's setup)
#   balanced CE               models/unet.net -D TAU=0 -D WEIGHTS=balanced -D CLIP=50
#   CE + Dice                 models/unet_dice.net
#   logit-adjusted CE         models/unet_la.net
#   CE + Lovasz               models/unet_lovasz.net
#   recipe before issue 25    models/unet_nn.net -D DECAY=0 -D EMA=0 (constant rate, no EMA)
#   PyTorch nnU-Net-style     bench/torch_recipe.py (the reference: instance norm, leaky ReLU,
#                             CE + batch Dice, 1/3 foreground-class sampling, Adam 1e-3 poly, clip 12)
#   recipe + EMA              models/unet_nn.net -D DECAY=0 (row 7); + Adam poly: -D EMA=0 (row 8)
#   unet_nn.net               its defaults: poly(0.9) decay and EMA 0.999 (row 9)
#   + a Dice term             models/unet_nn.net -D LOSS=la_dice (row 10)
#   + gradient-norm clip 12   models/unet_nn.net -D CLIP_NORM=12 (row 11; nnU-Net's and the reference's)
#   + gradient-norm clip 1    models/unet_nn.net -D CLIP_NORM=1 (row 12: a clip that binds)
# Each netrun row's last checkpoint is evaluated with and without --tta; with BEST=1 training
# also validates on the validation set (every epoch) and its best checkpoint is evaluated too
# (chosen on the set it is scored on: an optimistic bound for "is the last as good as the best").
# Every row is a model file or -D switches (no C).  The unet*.net rows use
# their Adam with Keras's element clip at LR 3e-3 (their 1e-4 default is for
# the full-size network); unet_nn.net uses its own defaults.
# Environment: GEN (gen_data: the project's shapes; glyphs: examples/glyphs/gen_glyphs.py,
# font glyphs among clutter, the second benchmark), SETTINGS ("99 97": at most 1 or 3
# objects per image, ~99% or ~97% background; glyphs: ~98.3% or ~95%), CLASSES (32), SIZE (32, the model's input), IMAGE (the images'
# size, SIZE: larger trains on random crops, evaluates by sliding window),
# COUNT (320 training images), VAL (640 validation images: enough that every
# class is present, so a class at IoU 0 is one the model missed, not one
# absent from validation and predicted once), BASE (8), DEPTH (3), BATCH (4): the network every row
# trains, STEPS (1600), SEEDS ("1 2 3"), RECIPES (row numbers, default all thirteen),
# THREADS (1 per run; JOBS (1) runs go side by side), BUILD (build), OUT ($BUILD/recipes; with
# GEN=glyphs $BUILD/recipes-glyphs), TRAIN_FLAGS (more `netrun train` flags for every netrun row,
# e.g. "--set foreground=0").
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/deps.sh
netc_install_deps
[ "${GEN:-gen_data}" = glyphs ] && netc_install_deps "python3-numpy python3-pil fonts-dejavu-core"
BUILD=${BUILD:-build}
netc_build "$BUILD" >/dev/null

SETTINGS=${SETTINGS:-"99 97"} CLASSES=${CLASSES:-32} SIZE=${SIZE:-32} IMAGE=${IMAGE:-${SIZE:-32}} COUNT=${COUNT:-320} VAL=${VAL:-640}
STEPS=${STEPS:-1600} SEEDS=${SEEDS:-"1 2 3"} RECIPES=${RECIPES:-"0 1 2 3 4 5 6 7 8 9 10 11 12"}
THREADS=${THREADS:-1} JOBS=${JOBS:-1}
GEN=${GEN:-gen_data}
OUT=${OUT:-$BUILD/recipes$([ "$GEN" = gen_data ] || echo "-$GEN")}
mkdir -p "$OUT"
BASE=${BASE:-8} DEPTH=${DEPTH:-3} BATCH=${BATCH:-4}
SMALL=(-D BASE="$BASE" -D SIZE="$SIZE" -D DEPTH="$DEPTH" -D BATCH="$BATCH" -D CLASSES="$CLASSES")

names=("plain cross-entropy" "balanced CE (clip 50)" "CE + Dice" "logit-adjusted CE" "CE + Lovasz" "recipe, constant rate, no EMA"
       "PyTorch nnU-Net-style" "recipe + EMA 0.999" "recipe + Adam poly(0.9)" "unet_nn (poly + EMA)"
       "unet_nn + Dice term" "unet_nn + clip_norm 12" "unet_nn + clip_norm 1")
models=(models/unet.net models/unet.net models/unet_dice.net models/unet_la.net models/unet_lovasz.net models/unet_nn.net
        "" models/unet_nn.net models/unet_nn.net models/unet_nn.net models/unet_nn.net models/unet_nn.net models/unet_nn.net)
defs=("-D TAU=0 -D LR=3e-3" "-D TAU=0 -D WEIGHTS=balanced -D CLIP=50 -D LR=3e-3" "-D LR=3e-3" "-D LR=3e-3" "-D LR=3e-3"
      "-D DECAY=0 -D EMA=0" "" "-D DECAY=0" "-D EMA=0" "" "-D LOSS=la_dice" "-D CLIP_NORM=12" "-D CLIP_NORM=1")
nrecipes=${#names[@]}

score() { # JSON -> "pixel_acc fg_miou worst_fg fg_classes_at_iou_0"
    num() { grep -o "\"$1\":[-0-9.eE+null]*" "$2" | head -1 | cut -d: -f2 | sed 's/null/nan/'; }
    # foreground classes whose IoU is 0 (null: absent from truth and prediction), from the pooled
    # list, the first (per_image follows it)
    local zeros
    zeros=$(grep -o '"iou":\[[^]]*\]' "$1" | head -1 | sed 's/"iou":\[//; s/\]//' | tr ',' '\n' | tail -n +2 |
        grep -cx '0' || true)
    echo "$(num pixel_accuracy "$1") $(num miou_foreground "$1") $(num worst_iou_foreground "$1") $zeros"
}

# one run: train, evaluate the last checkpoint with and without TTA (and with BEST=1 the best
# one, chosen on the validation set itself during training: an optimistic bound), each into
# run<recipe>-<seed>[.tta|.best].score
run() { # setting recipe seed
    local s=$1 i=$2 seed=$3 r=$OUT/$1/run$2-$3 val=()
    if [ "$i" = 6 ]; then # the PyTorch reference, SMALL's network
        /usr/bin/python3 bench/torch_recipe.py --data "$OUT/$s/data/train" --val "$OUT/$s/data/val" \
            --steps "$STEPS" --base "$BASE" --depth "$DEPTH" --batch "$BATCH" --classes "$CLASSES" --seed "$seed" \
            --threads "$THREADS" $([ "$IMAGE" -gt "$SIZE" ] && echo "--patch $SIZE") --json "$r.json" > "$r.log" 2>&1
        score "$r.json" > "$r.score"
        return
    fi
    [ "${BEST:-0}" = 1 ] && val=(--val "$OUT/$s/data/val")
    # shellcheck disable=SC2086
    "$BUILD"/runtime/netrun train "$OUT/$s/recipe$i.netg" --data "$OUT/$s/data/train" --steps "$STEPS" \
        --seed "$seed" --out "$r" --overwrite --quiet --threads "$THREADS" "${val[@]}" ${TRAIN_FLAGS:-} > "$r.log" 2>&1
    local ev=("$BUILD"/runtime/netrun eval "$OUT/$s/recipe$i.netg" --data "$OUT/$s/data/val" --json --pooled-only
              --threads "$THREADS")
    "${ev[@]}" --weights "$r/last.safetensors" > "$r.json"
    score "$r.json" > "$r.score"
    "${ev[@]}" --weights "$r/last.safetensors" --tta > "$r.tta.json"
    score "$r.tta.json" > "$r.tta.score"
    if [ "${BEST:-0}" = 1 ]; then
        "${ev[@]}" --weights "$r/best.safetensors" > "$r.best.json"
        score "$r.best.json" > "$r.best.score"
    fi
}

# "mean (min..max)" of column $2 over the seeds' files run<recipe>-<seed>$1.score of one setting
summary() { # suffix column recipe setting
    for seed in $SEEDS; do
        f=$OUT/$4/run$3-$seed$1.score
        if [ -f "$f" ]; then cat "$f"; fi
    done | awk -v c="$2" '{ v = $c; m += v; n++; if (n == 1 || v < lo) lo = v; if (n == 1 || v > hi) hi = v }
                          END { if (n) printf "%.3f (%.3f..%.3f)", m / n, lo, hi; else printf "-" }'
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
    for i in $RECIPES; do
        [ "$i" -ge 0 ] && [ "$i" -lt "$nrecipes" ] || { echo "recipes.sh: no recipe $i (0..$((nrecipes - 1)))" >&2; exit 2; }
        [ "$i" = 6 ] && continue
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
    {
        printf '%s\n' "recipe|fg mIoU, last|last + TTA|best (BEST=1)|classes at IoU 0, last|worst fg IoU, last|pixel acc, last"
        for i in $RECIPES; do
            printf '%s|%s|%s|%s|%s|%s|%s\n' "${names[$i]}" "$(summary "" 2 "$i" "$s")" "$(summary .tta 2 "$i" "$s")" \
                "$(summary .best 2 "$i" "$s")" "$(summary "" 4 "$i" "$s")" "$(summary "" 3 "$i" "$s")" \
                "$(summary "" 1 "$i" "$s")"
        done
    } > "$OUT/$s/table.txt"
    echo
    echo "setting $s: $STEPS steps of batch $BATCH (base $BASE, depth $DEPTH) on $COUNT images ${IMAGE}x${IMAGE} (model input ${SIZE}x${SIZE}), $CLASSES classes, at most $objects object(s) per image;"
    echo "seeds $SEEDS (means); validation on $VAL images, $(grep -o '[0-9.]*% of pixels' "$D.val.log" | head -1) background"
    awk -F'|' '{ printf "%-30s %21s %21s %21s %21s %21s %21s\n", $1, $2, $3, $4, $5, $6, $7 }' "$OUT/$s/table.txt"
done
