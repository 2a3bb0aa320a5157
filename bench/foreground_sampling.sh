#!/usr/bin/env bash
# foreground_sampling.sh — what drawing a share of each batch by class
# (option foreground on images of the model's size: a foreground class
# uniform over the training masks', then an image holding it) does to the
# recipe study's full recipe: examples/imbalance/recipes.sh's row 5
# (models/unet_nn.net, FOREGROUND 0.33; the last checkpoint, with and
# without --tta) as it is, and with --set foreground=0 (what it did before
# issue 25: nothing, the images being the model's size).
# Environment: GEN (gen_data), SETTINGS (99), SEEDS ("1 2"), RECIPES (5; any
# netrun rows of recipes.sh, e.g. "5 8"), STEPS (1600), JOBS (1), BUILD
# (build); the rest as recipes.sh.  Prints both tables; the runs are in
# $BUILD/fg-sampling/{on,off}-$GEN.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export GEN=${GEN:-gen_data} SETTINGS=${SETTINGS:-99} SEEDS=${SEEDS:-"1 2"} RECIPES=${RECIPES:-5} BUILD
for variant in on off; do
    flags=
    [ "$variant" = off ] && flags="--set foreground=0"
    echo "== foreground 0.33 ${variant}${flags:+ ($flags)}"
    OUT=$BUILD/fg-sampling/$variant-$GEN TRAIN_FLAGS=$flags examples/imbalance/recipes.sh
done
