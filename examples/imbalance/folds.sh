#!/usr/bin/env bash
# folds.sh — cross-validation and the fold ensemble at the user's imbalance:
# the recipe network (models/unet_nn.net, small) trained K times with
# `train --folds K --fold I` on one training set (each run validating on its
# held-out fold), then every fold's last checkpoint and the ensemble of all K
# (`--weights A,B,...`: probabilities averaged) evaluated on a separate
# validation set, repeated over seeds, with and without weight EMA.  Prints
# one table: the mean fg mIoU of the single folds, the ensemble's, and the
# gain, per EMA setting.
# Environment: K (5), SEEDS ("1 2 3": the repetitions), EMAS ("0 0.999"),
# CLASSES (32), SIZE (32), COUNT (320 training images), VAL (640), OBJECTS
# (1: ~99% background), STEPS (1600 per fold), JOBS (2 runs side by side),
# THREADS (1 per run), BUILD (build), OUT ($BUILD/folds).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/deps.sh
netc_install_deps
BUILD=${BUILD:-build}
netc_build "$BUILD" >/dev/null

K=${K:-5} SEEDS=${SEEDS:-"1 2 3"} EMAS=${EMAS:-"0 0.999"} CLASSES=${CLASSES:-32} SIZE=${SIZE:-32}
COUNT=${COUNT:-320} VAL=${VAL:-640} OBJECTS=${OBJECTS:-1} STEPS=${STEPS:-1600} JOBS=${JOBS:-2} THREADS=${THREADS:-1}
OUT=${OUT:-$BUILD/folds}
NETC=$BUILD/compiler/netc NETRUN=$BUILD/runtime/netrun
mkdir -p "$OUT"
D=$OUT/data
gen() { "$BUILD"/examples/gen_data --out "$1" --count "$2" --size "$SIZE" --classes "$CLASSES" --max-objects "$OBJECTS" --seed "$3"; }
[ -d "$D/train" ] || gen "$D/train" "$COUNT" 11 > "$D.train.log"
[ -d "$D/val" ] || gen "$D/val" "$VAL" 12 > "$D.val.log"
"$NETC" models/unet_nn.net -D BASE=8 -D SIZE="$SIZE" -D DEPTH=3 -D BATCH=4 -D CLASSES="$CLASSES" -o "$OUT/m.netg"

# fg mIoU of eval --json's output in file $1
fg() { grep -o '"miou_foreground":[-0-9.eE+null]*' "$1" | head -1 | cut -d: -f2 | sed 's/null/nan/'; }

# every (ema, seed, fold) training run, JOBS at a time
for e in $EMAS; do for s in $SEEDS; do for f in $(seq 0 $((K - 1))); do echo "$e $s $f"; done; done; done | {
    while read -r e s f; do
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
        r=$OUT/ema$e-seed$s-fold$f
        "$NETRUN" train "$OUT/m.netg" --data "$D/train" --folds "$K" --fold "$f" --steps "$STEPS" --seed "$s" \
            --set ema="$e" --out "$r" --overwrite --quiet --threads "$THREADS" > "$r.log" 2>&1 &
    done
    wait
}

printf '%s\n' "ema|seed|single folds' fg mIoU (mean, min..max)|ensemble of $K|gain" > "$OUT/table.txt"
for e in $EMAS; do
    for s in $SEEDS; do
        members=""
        : > "$OUT/ema$e-seed$s.singles"
        for f in $(seq 0 $((K - 1))); do
            r=$OUT/ema$e-seed$s-fold$f
            "$NETRUN" eval "$OUT/m.netg" --weights "$r/last.safetensors" --data "$D/val" --json --pooled-only \
                --threads 2 > "$r.json"
            fg "$r.json" >> "$OUT/ema$e-seed$s.singles"
            members="$members${members:+,}$r/last.safetensors"
        done
        "$NETRUN" eval "$OUT/m.netg" --weights "$members" --data "$D/val" --json --pooled-only --threads 2 \
            > "$OUT/ema$e-seed$s-ensemble.json"
        ens=$(fg "$OUT/ema$e-seed$s-ensemble.json")
        awk -v e="$e" -v s="$s" -v ens="$ens" '{ m += $1; n++; if (n == 1 || $1 < lo) lo = $1; if (n == 1 || $1 > hi) hi = $1 }
            END { printf "%s|%s|%.4f (%.3f..%.3f)|%.4f|%+.4f\n", e, s, m / n, lo, hi, ens, ens - m / n }' \
            "$OUT/ema$e-seed$s.singles" >> "$OUT/table.txt"
    done
done
echo "$K folds of $COUNT images ${SIZE}x${SIZE} ($(grep -o '[0-9.]*% of pixels' "$D.train.log" | head -1) background), $STEPS steps each;"
echo "each fold's last checkpoint and their ensemble evaluated on $VAL other images"
awk -F'|' '{ printf "%-6s %-5s %-38s %-14s %s\n", $1, $2, $3, $4, $5 }' "$OUT/table.txt"
