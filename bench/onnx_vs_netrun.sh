#!/usr/bin/env bash
# onnx_vs_netrun.sh — the exported U-Net (models/unet.net at its full size:
# 256x256, 64..1024 filters, 32 classes) in ONNX Runtime (onnxruntime-node)
# against netrun, one image, 1 and 2 threads:
#   network  the infer entry alone: `netrun bench --entry infer` against
#            bench/ort_bench.js (session.run), median of RUNS runs each,
#            alternating, ROUNDS rounds (the median of the rounds' medians)
#   command  the whole command on one 256x256 PNG: `netrun predict` against
#            `node tests/onnx_predict.js` (the manifest's preprocessing,
#            ONNX Runtime, argmax; the PNG decoded to .npy beforehand),
#            paired by farm-bench (A B A B ...; its median wall time)
# The weights are those of one training step (timing does not depend on
# them).  Knobs: BUILD (build), THREADS ("1 2"), ROUNDS (3), RUNS (10),
# PAIRS (5), NO_BUILD=1 (no ninja), SIZE/BASE (-D of the model, for a quick
# try), ORT_DIR (default: the test's install in BUILD/tests/onnxruntime-node).
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
THREADS=${THREADS:-"1 2"} ROUNDS=${ROUNDS:-3} RUNS=${RUNS:-10} PAIRS=${PAIRS:-5}
SIZE=${SIZE:-256} BASE=${BASE:-64}
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
[ -n "${NO_BUILD:-}" ] || ninja -C "$BUILD" >/dev/null
ORT_DIR=${ORT_DIR:-$BUILD/tests/onnxruntime-node}
export ORT_DIR
if [ ! -f "$ORT_DIR/node_modules/onnxruntime-node/package.json" ]; then
    mkdir -p "$ORT_DIR"
    (cd "$ORT_DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --prefix . onnxruntime-node >npm.log)
fi
W=$(mktemp -d /tmp/onnx_vs_netrun.XXXXXX)
trap 'rm -rf "$W"' EXIT
NETRUN=$BUILD/runtime/netrun
"$BUILD/compiler/netc" "$ROOT/models/unet.net" -D SIZE="$SIZE" -D BASE="$BASE" -o "$W/unet.netg"
"$BUILD/examples/gen_data" --out "$W/data" --count 1 --size "$SIZE" --classes 32 >/dev/null
"$NETRUN" train "$W/unet.netg" --data "$W/data" --steps 1 --out "$W/run" --quiet
"$NETRUN" export "$W/unet.netg" --weights "$W/run/last.safetensors" -o "$W/unet.onnx" --quiet
/usr/bin/python3 "$ROOT/tests/onnx_check.py" check "$W/unet.onnx" # and unet.onnx.json, the manifest
IMG=$W/data/images/img_0000.png
/usr/bin/python3 "$ROOT/tests/onnx_check.py" decode "$IMG" "$W/img.npy"
echo "# $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { grep -o "\"$1\": *[0-9.e+-]*" | head -1 | sed 's/.*: *//'; }
echo "network (infer entry, batch 1, ${SIZE}x${SIZE}): median of $RUNS runs, median over $ROUNDS rounds"
for t in $THREADS; do
    : > "$W/n" && : > "$W/o"
    for _ in $(seq "$ROUNDS"); do
        "$NETRUN" bench "$W/unet.netg" --entry infer --steps "$RUNS" --threads "$t" --json | field median_s >> "$W/n"
        node "$ROOT/bench/ort_bench.js" "$W/unet.onnx" "$t" "$RUNS" | field median_s >> "$W/o"
    done
    n=$(median < "$W/n") o=$(median < "$W/o")
    awk -v t="$t" -v n="$n" -v o="$o" \
        'BEGIN { printf "  %d thread(s): netrun %.1f ms, ONNX Runtime %.1f ms, ONNX Runtime / netrun %.2f\n", t, n * 1e3, o * 1e3, o / n }'
done
echo "command (one ${SIZE}x${SIZE} image: start, load, infer, argmax; A = ONNX Runtime, B = netrun predict)"
for t in $THREADS; do
    echo "  $t thread(s):"
    ORT_THREADS=$t farm-bench -n "$PAIRS" --timeout 900 \
        --vs "$NETRUN predict $W/unet.netg --weights $W/run/last.safetensors --input $IMG --output $W/pred --threads $t --quiet" \
        -- node "$ROOT/tests/onnx_predict.js" "$W/unet.onnx" "$W/unet.onnx.json" "$W/img.npy" "$W/p.npy" "$W/m.npy" |
        grep -E "wall|cpu|peak MiB|ratio|A/B" | sed 's/^/    /'
done
