#!/usr/bin/env bash
# quickstart.sh — from a fresh Debian machine to a trained U-Net in minutes:
# installs what is missing, builds, writes the example data (32 classes,
# ~98% background), compiles models/unet_nn.net -- the user's U-Net with the
# recipe that ranked first in examples/imbalance/recipes.sh -- in a small
# configuration, trains it, evaluates it per class (with flip test-time
# augmentation) and predicts masks.  Also compiles the full-size network of
# the user's question to show its plan.
# Environment: EPOCHS (default 20), OUT (default build/quickstart).
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
netc_install_deps
netc_build build

EPOCHS=${EPOCHS:-20}
OUT=${OUT:-build/quickstart}
DATA=build/example-data
mkdir -p "$OUT"

echo "== example data"
[ -d "$DATA/train" ] || build/examples/gen_data --out "$DATA/train" --count 400 --size 64 --classes 32 --seed 1
[ -d "$DATA/val" ]   || build/examples/gen_data --out "$DATA/val" --count 80 --size 64 --classes 32 --seed 2

echo "== the full-size network of the question (base 64, 256x256, 32 classes)"
build/compiler/netc models/unet.net -o "$OUT/unet-full.netg"
build/runtime/netrun info "$OUT/unet-full.netg"

echo "== compile a small configuration of the recipe (the same network, smaller)"
SMALL=(-D BASE=16 -D SIZE=64 -D DEPTH=3 -D BATCH=8)
build/compiler/netc models/unet_nn.net "${SMALL[@]}" -o "$OUT/unet-small.netg"
build/runtime/netrun info "$OUT/unet-small.netg"

# without foreground oversampling (--set foreground=0), as the figures in README.md were taken
echo "== train (instance norm, deep supervision, logit-adjusted cross-entropy)"
build/runtime/netrun train "$OUT/unet-small.netg" --data "$DATA/train" --val "$DATA/val" \
    --epochs "$EPOCHS" --seed 1 --out "$OUT/run" --overwrite --set foreground=0

echo "== evaluate the best checkpoint on the validation set, with flip test-time augmentation"
build/runtime/netrun eval "$OUT/unet-small.netg" --weights "$OUT/run/best.safetensors" --data "$DATA/val" --tta

echo "== predict masks"
build/runtime/netrun predict "$OUT/unet-small.netg" --weights "$OUT/run/best.safetensors" \
    --input "$DATA/val/images" --output "$OUT/pred" --quiet
echo "wrote $(ls "$OUT/pred" | wc -l) palette masks to $OUT/pred; training log in $OUT/run/log.csv"
