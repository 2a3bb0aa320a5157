#!/usr/bin/env bash
# ema_best_last.sh — does a weight average (option ema) make the last
# checkpoint as good as the best?  The quickstart's run (examples/quickstart.sh:
# models/unet_nn.net, BASE 16, SIZE 64, DEPTH 3, BATCH 8, 400 training and 80
# validation images of build/example-data, 20 epochs = 1000 steps, Adam at
# 1e-2 without decay) per seed and per EMA decay; validation each epoch uses
# the average (ema > 0), so the best checkpoint's fg mIoU is the column's
# maximum in log.csv and the last one's its final row.
# Environment: SEEDS (default "1 2"), EMAS (default "0 0.999 0.99"), EPOCHS (20),
# THREADS (1), OUT (build/ema-bench), NETC, NETRUN, GEN_DATA (build/...).
# Prints one row per run: seed, ema, best fg mIoU (its step), last fg mIoU.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-1 2}
EMAS=${EMAS:-0 0.999 0.99}
EPOCHS=${EPOCHS:-20}
THREADS=${THREADS:-1}
OUT=${OUT:-build/ema-bench}
NETC=${NETC:-build/compiler/netc}
NETRUN=${NETRUN:-build/runtime/netrun}
GEN_DATA=${GEN_DATA:-build/examples/gen_data}
DATA=build/example-data
mkdir -p "$OUT"
[ -d "$DATA/train" ] || "$GEN_DATA" --out "$DATA/train" --count 400 --size 64 --classes 32 --seed 1 >/dev/null
[ -d "$DATA/val" ] || "$GEN_DATA" --out "$DATA/val" --count 80 --size 64 --classes 32 --seed 2 >/dev/null
"$NETC" models/unet_nn.net -D BASE=16 -D SIZE=64 -D DEPTH=3 -D BATCH=8 -o "$OUT/unet-small.netg"
printf '%-5s %-6s %-22s %-8s\n' seed ema "best fg mIoU (step)" "last fg mIoU"
for seed in $SEEDS; do
    for ema in $EMAS; do
        run="$OUT/seed$seed-ema$ema"
        "$NETRUN" train "$OUT/unet-small.netg" --data "$DATA/train" --val "$DATA/val" --epochs "$EPOCHS" \
            --seed "$seed" --out "$run" --set foreground=0 --set ema="$ema" --threads "$THREADS" --quiet
        # log.csv: epoch,step,train_loss,val_loss,val_pixel_accuracy,val_miou_foreground,...
        awk -F, -v s="$seed" -v e="$ema" 'NR > 1 { if ($6 > best) { best = $6; at = $2 } last = $6 }
            END { printf "%-5s %-6s %.4f (%5d)         %.4f\n", s, e, best, at, last }' "$run/log.csv"
    done
done
