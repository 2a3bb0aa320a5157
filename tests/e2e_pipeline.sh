#!/usr/bin/env bash
# e2e_pipeline.sh — compile models/unet.net small, train on generated data
# without class weights (the loss falls), validate, checkpoint, evaluate, predict, resume, and
# reproduce a run bit for bit from its seed.
. "$(dirname "$0")/e2e_lib.sh"
M=$SOURCE_ROOT/models/unet.net
D=$WORK/train V=$WORK/val R=$WORK/run
COUNT=32 SHORT=5 BASE=8 # training images (8 steps per epoch), steps of the short runs, filters
[ "$QUICK" = 1 ] && COUNT=8 SHORT=2 BASE=2
"$GEN_DATA" --out "$D" --count "$COUNT" --size 32 --classes 6 --seed 1 >/dev/null
"$GEN_DATA" --out "$V" --count 8 --size 32 --classes 6 --seed 2 >/dev/null
"$NETC" "$M" -D BASE=$BASE -D SIZE=32 -D DEPTH=2 -D BATCH=4 -D CLASSES=6 -D LR=3e-3 -D WEIGHTS=none -D TAU=0 -o "$WORK/u.netg" || fail "compile"

expect 0 "epoch 6: train loss" "train 6 epochs with validation" -- \
    "$NETRUN" train "$WORK/u.netg" --data "$D" --val "$V" --epochs 6 --seed 5 --out "$R"
loss_falls "" "$R/log.csv"
[ "$(wc -l < "$R/log.csv")" -eq 7 ] && ok "log.csv has one row per epoch" || fail "log.csv rows: $(wc -l < "$R/log.csv")"
[ -s "$R/last.safetensors" ] && [ -s "$R/best.safetensors" ] && ok "checkpoints written" || fail "checkpoints missing"
[ "$(grep -c '"worst_iou_foreground"' "$R/metrics.jsonl")" -eq 6 ] && ok "metrics.jsonl has every epoch's validation" \
    || fail "metrics.jsonl: $(head -c 300 "$R/metrics.jsonl")"
expect 2 "unknown --best-metric" "an unknown --best-metric is refused" -- "$NETRUN" train "$WORK/u.netg" --data "$D" --best-metric accuracy
expect 0 "best.safetensors by worst_iou_fg" "--best-metric chooses the checkpoint metric" -- \
    "$NETRUN" train "$WORK/u.netg" --data "$D" --val "$V" --epochs 1 --out "$WORK/bm" --best-metric worst_iou_fg
ls "$R"/*.tmp.* >/dev/null 2>&1 && fail "temporary checkpoint files left" || ok "no temporary files left"

"$NETRUN" eval "$WORK/u.netg" --weights "$R/last.safetensors" --data "$V" --json > "$WORK/e1.json" || fail "eval --json"
"$NETRUN" eval "$WORK/u.netg" --weights "$R/last.safetensors" --data "$V" --json > "$WORK/e2.json"
cmp -s "$WORK/e1.json" "$WORK/e2.json" && ok "eval is deterministic from a checkpoint" || fail "eval differs between runs"
grep -q '"confusion":\[\[' "$WORK/e1.json" && ok "eval --json has the confusion matrix" || fail "eval json: $(head -c 200 "$WORK/e1.json")"
expect 0 "foreground mIoU" "eval prints the per-class table" -- "$NETRUN" eval "$WORK/u.netg" --weights "$R/best.safetensors" --data "$V"

expect 0 "" "predict a folder" -- "$NETRUN" predict "$WORK/u.netg" --weights "$R/best.safetensors" --input "$V/images" --output "$WORK/pred" --quiet
[ "$(ls "$WORK/pred" | wc -l)" -eq 8 ] && ok "one mask per image" || fail "predicted masks: $(ls "$WORK/pred" | wc -l)"
expect 0 "" "predict one file" -- "$NETRUN" predict "$WORK/u.netg" --weights "$R/best.safetensors" --input "$V/images/img_0003.png" --output "$WORK/pred1" --quiet
[ -s "$WORK/pred1/img_0003.png" ] && ok "single-file prediction written" || fail "single-file prediction missing"

# resume continues the step count and the log
expect 0 "" "resume to 8 epochs" -- "$NETRUN" train "$WORK/u.netg" --data "$D" --val "$V" --epochs 8 --seed 5 --out "$R" --resume "$R/last.safetensors" --quiet
[ "$(tail -1 "$R/log.csv" | cut -d, -f1,2)" = "8,$((COUNT * 2))" ] && ok "resumed run ends at epoch 8, step $((COUNT * 2))" ||
    fail "after resume: $(tail -1 "$R/log.csv")"

# same seed, same bits; --init starts from given weights
"$NETRUN" train "$WORK/u.netg" --data "$D" --steps "$SHORT" --seed 9 --out "$WORK/a" --quiet
"$NETRUN" train "$WORK/u.netg" --data "$D" --steps "$SHORT" --seed 9 --out "$WORK/b" --quiet
cmp -s "$WORK/a/last.safetensors" "$WORK/b/last.safetensors" && ok "training is reproducible from its seed" || fail "same seed, different weights"
"$NETRUN" train "$WORK/u.netg" --data "$D" --steps "$SHORT" --seed 10 --out "$WORK/c" --quiet
cmp -s "$WORK/a/last.safetensors" "$WORK/c/last.safetensors" && fail "different seeds gave identical weights" || ok "the seed matters"
# the memory plan changes no bit: every tensor in its own buffer gives the
# same weights (the model has spatial dropout, so masks are compared too)
"$NETRUN" train "$WORK/u.netg" --data "$D" --steps "$SHORT" --seed 9 --out "$WORK/a2" --quiet --debug-unshared
cmp -s "$WORK/a/last.safetensors" "$WORK/a2/last.safetensors" && ok "planned arena and unshared buffers agree bit for bit" \
    || fail "the memory plan changes the results"
# with a batch of one, concat and slice copy nothing (zero-copy): same bits
"$NETC" "$M" -D BASE=$BASE -D SIZE=32 -D DEPTH=2 -D BATCH=1 -D CLASSES=6 -D LR=3e-3 -o "$WORK/u1.netg"
"$NETRUN" train "$WORK/u1.netg" --data "$D" --steps "$((SHORT + 1))" --seed 9 --out "$WORK/b1" --quiet
"$NETRUN" train "$WORK/u1.netg" --data "$D" --steps "$((SHORT + 1))" --seed 9 --out "$WORK/b2" --quiet --debug-unshared
cmp -s "$WORK/b1/last.safetensors" "$WORK/b2/last.safetensors" && ok "batch 1: zero-copy concat agrees with unshared buffers bit for bit" \
    || fail "batch 1: the memory plan changes the results"
# recomputation in the backward pass changes no bit either
"$NETC" "$M" -D BASE=$BASE -D SIZE=32 -D DEPTH=2 -D BATCH=4 -D CLASSES=6 -D LR=3e-3 -D WEIGHTS=none -D TAU=0 --recompute -o "$WORK/ur.netg"
"$NETRUN" train "$WORK/ur.netg" --data "$D" --steps "$SHORT" --seed 9 --out "$WORK/a3" --quiet
cmp -s "$WORK/a/last.safetensors" "$WORK/a3/last.safetensors" && ok "--recompute gives the same weights bit for bit" \
    || fail "--recompute changes the results"
expect 0 "" "train --init from a checkpoint" -- "$NETRUN" train "$WORK/u.netg" --data "$D" --steps 2 --init "$R/best.safetensors" --out "$WORK/d" --quiet

# the checkpoint is plain safetensors: read it back with Python when present
if /usr/bin/python3 -c "import numpy" 2>/dev/null; then
    if /usr/bin/python3 - "$R/last.safetensors" "$((COUNT * 2))" "$BASE" <<'PY'
import json, struct, sys, numpy as np
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
meta = hdr.pop("__metadata__")
assert meta["format"] == "netrun" and int(meta["step"]) == int(sys.argv[2]), meta
w = hdr["features.enc.conv1.weight"]
a = np.frombuffer(raw[8 + n + w["data_offsets"][0]: 8 + n + w["data_offsets"][1]], dtype="<f4").reshape(w["shape"])
assert a.shape == (int(sys.argv[3]), 1, 3, 3) and np.isfinite(a).all() and a.std() > 0
PY
    then ok "Python reads the checkpoint"; else fail "Python cannot read the checkpoint"; fi
else
    echo "# skip: python3 with numpy not installed"
fi
finish
