#!/usr/bin/env bash
# e2e_export.sh — netrun export and predict --probabilities (issue 20):
# every model of models/ (small) and tests/export/every_op.net (the ops they
# do not use) trained a step, exported, checked by Debian's python3-onnx
# (check_model, full_check) and run in ONNX Runtime from npm
# (onnxruntime-node, installed once into ORT_DIR): its probabilities within
# 1e-4 of netrun's .npy on an image of the model's size; on an image larger
# than the model, windows + TTA from the manifest alone (onnx_predict.js)
# give netrun's mask on >= 99.9% of pixels.  The errors: an op with no ONNX
# form, a checkpoint of another graph, an unwritable output, none leaving a
# file.  Skips (77) when python3-onnx or node/npm is missing.  Under QUICK
# (sanitizers, valgrind): two models, netrun's side and python's checks only.
. "$(dirname "$0")/e2e_lib.sh"
PY=/usr/bin/python3
CHECK="$SOURCE_ROOT/tests/onnx_check.py"
if ! $PY -c "import onnx, numpy, PIL" 2>/dev/null; then
    echo "# skip: /usr/bin/python3 lacks onnx, numpy or PIL (Debian: python3-onnx python3-numpy python3-pil)"
    exit 77
fi
ORT=1
if [ "$QUICK" = 1 ]; then
    ORT=0
    echo "# skip: ONNX Runtime comparisons (QUICK: netrun's side only)"
elif ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "# skip: node or npm missing (tests/deps.sh installs Debian's npm when no npm is on PATH)"
    exit 77
fi
ORT_DIR=${ORT_DIR:-$WORK/ort}
if [ "$ORT" = 1 ] && [ ! -f "$ORT_DIR/node_modules/onnxruntime-node/package.json" ]; then
    mkdir -p "$ORT_DIR"
    # the CPU runtime is in the package; INSTALL=skip skips the CUDA download
    if ! (cd "$ORT_DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --prefix . \
            onnxruntime-node >npm.log 2>&1); then
        echo "# skip: npm install onnxruntime-node failed: $(tail -2 "$ORT_DIR/npm.log")"
        exit 77
    fi
fi
export ORT_DIR

"$GEN_DATA" --out "$WORK/d32" --count 2 --size 32 --classes 3 --seed 1 >/dev/null
"$GEN_DATA" --out "$WORK/d16" --count 2 --size 16 --classes 3 --seed 2 >/dev/null
"$GEN_DATA" --out "$WORK/big" --count 1 --size 45 --classes 3 --seed 3 >/dev/null

# model NAME SOURCE SIZE [-D ...]: compile, train a step, export to $WORK/NAME.onnx
model() {
    local name=$1 src=$2 size=$3
    shift 3
    "$NETC" "$src" -D CLASSES=3 "$@" -o "$WORK/$name.netg" &&
        "$NETRUN" train "$WORK/$name.netg" --data "$WORK/d$size" --steps 1 --out "$WORK/run_$name" --quiet &&
        "$NETRUN" export "$WORK/$name.netg" --weights "$WORK/run_$name/last.safetensors" -o "$WORK/$name.onnx" \
            --quiet $SETTINGS || { fail "$name: compile, train and export"; return 1; }
}

# what export records in the manifest and predict is given: flips, windows
# overlapping by a quarter, prior correction
SETTINGS="--tta --set overlap=0.25 --prior-correction 0.5"
MODELS=""
if [ "$QUICK" = 1 ]; then
    set -- unet
else
    set -- $(cd "$SOURCE_ROOT/models" && ls *.net | sed 's/\.net$//')
fi
for m in "$@"; do
    model "$m" "$SOURCE_ROOT/models/$m.net" 32 -D BASE=2 -D SIZE=32 -D DEPTH=2 -D BATCH=2 && MODELS="$MODELS $m"
done
model every_op "$SOURCE_ROOT/tests/export/every_op.net" 16 && MODELS="$MODELS every_op"
[ "$QUICK" = 1 ] || [ "$(echo $MODELS | wc -w)" -ge 10 ] && ok "every model exported:$MODELS" ||
    fail "exported only:$MODELS"

onnx_files=$(for m in $MODELS; do echo "$WORK/$m.onnx"; done)
expect 0 "opset 17, IR 8" "python3-onnx: check_model(full_check) on each, manifest present" -- $PY "$CHECK" check $onnx_files

# probabilities: an image of the model's size, one tile (the model's output
# averaged over the flips, prior-corrected)
for m in $MODELS; do
    size=32; [ $m = every_op ] && size=16
    img=$WORK/d$size/images/img_0000.png
    "$NETRUN" predict "$WORK/$m.netg" --weights "$WORK/run_$m/last.safetensors" --input "$img" \
        --output "$WORK/pred_$m" --probabilities $SETTINGS --quiet || { fail "$m: predict --probabilities"; continue; }
    [ "$ORT" = 1 ] || continue
    out=""
    $PY "$CHECK" decode "$img" "$WORK/$m.in.npy" &&
        node "$SOURCE_ROOT/tests/onnx_predict.js" "$WORK/$m.onnx" "$WORK/$m.onnx.json" "$WORK/$m.in.npy" \
            "$WORK/$m.ort.npy" "$WORK/$m.ort_mask.npy" &&
        out=$($PY "$CHECK" probs "$WORK/pred_$m/img_0000.npy" "$WORK/$m.ort.npy" 1e-4) &&
        ok "$m: ONNX Runtime's probabilities within 1e-4 of netrun's .npy (${out##*, })" ||
        fail "$m: ONNX Runtime against netrun's .npy: ${out:-no run}"
done
$PY -c "
import numpy as np, sys
p = np.load(sys.argv[1]); assert p.dtype == np.float32 and p.shape == (3, 32, 32), p.shape
assert abs(p.sum(0) - 1).max() < 1e-5 and (p >= 0).all()
from PIL import Image
assert (np.asarray(Image.open(sys.argv[2])) == p.argmax(0)).all()
print('npy: float32 3x32x32, sums to 1, argmax is the mask')" "$WORK/pred_unet/img_0000.npy" "$WORK/pred_unet/img_0000.png" &&
    ok "numpy.load reads the .npy; its argmax is the mask" || fail "the .npy and the mask disagree"

# an image larger than the model: sliding windows (overlap 0.25), flips and
# prior correction, reproduced from the manifest alone
if [ "$ORT" = 1 ]; then
    for m in unet resunet; do
        masks="" probs=""
        "$NETRUN" predict "$WORK/$m.netg" --weights "$WORK/run_$m/last.safetensors" --input "$WORK/big/images" \
            --output "$WORK/big_$m" --probabilities $SETTINGS --quiet &&
            $PY "$CHECK" decode "$WORK/big/images/img_0000.png" "$WORK/big.npy" &&
            node "$SOURCE_ROOT/tests/onnx_predict.js" "$WORK/$m.onnx" "$WORK/$m.onnx.json" "$WORK/big.npy" \
                "$WORK/$m.big.npy" "$WORK/$m.big_mask.npy" &&
            masks=$($PY "$CHECK" masks "$WORK/big_$m/img_0000.png" "$WORK/$m.big_mask.npy" 0.999) &&
            probs=$($PY "$CHECK" probs "$WORK/big_$m/img_0000.npy" "$WORK/$m.big.npy" 1e-4) &&
            ok "$m: 45x45 image, windows + TTA + priors from the manifest alone: netrun's mask on >= 99.9% of pixels (${masks##*: }), probabilities within 1e-4 (${probs##*, })" ||
            fail "$m: the 45x45 image: ${masks:-} ${probs:-}"
    done
fi

# the run folder's choices (eval --choose-postprocessing, --fit-temperature) in the manifest
printf '%s\n' '{"kind":"netrun postprocessing","classes":3,"connectivity":8,"keep_largest":[2],' \
    '"remove_smaller_than":[{"class":1,"pixels":4}]}' > "$WORK/post.json"
printf '%s\n' '{"kind":"netrun temperature","temperature":0.5}' > "$WORK/temp.json"
"$NETRUN" export "$WORK/unet.netg" --weights "$WORK/run_unet/last.safetensors" -o "$WORK/chosen.onnx" \
    --postprocess "$WORK/post.json" --temperature "$WORK/temp.json" --quiet &&
    $PY "$CHECK" check "$WORK/chosen.onnx" > /dev/null &&
    $PY -c 'import json, sys; m = json.load(open(sys.argv[1]))
assert m["postprocessing"]["keep_largest"] == [2], m["postprocessing"]
assert m["postprocessing"]["remove_smaller_than"] == [{"class": 1, "pixels": 4}], m["postprocessing"]
assert m["temperature"]["value"] == 0.5, m["temperature"]' "$WORK/chosen.onnx.json" &&
    ok "export --postprocess, --temperature: the manifest carries both" ||
    fail "export --postprocess, --temperature: the manifest lacks them"
sed 's/"classes":3/"classes":5/' "$WORK/post.json" > "$WORK/post5.json"
expect 1 "post5.json" "a post-processing file for another class count is refused" -- \
    "$NETRUN" export "$WORK/unet.netg" --weights "$WORK/run_unet/last.safetensors" -o "$WORK/keep.onnx" \
    --postprocess "$WORK/post5.json"

# bad input: nothing written, the file there before untouched
echo "old" > "$WORK/keep.onnx"
"$NETC" "$SOURCE_ROOT/tests/export/no_onnx_form.net" -o "$WORK/nf.netg" &&
    "$NETRUN" train "$WORK/nf.netg" --data "$WORK/d16" --steps 1 --out "$WORK/run_nf" --quiet ||
    fail "no_onnx_form.net trains"
expect 1 "op batch_sum (output prediction.batch_sum1) has no ONNX form" "an op with no ONNX form is named" -- \
    "$NETRUN" export "$WORK/nf.netg" --weights "$WORK/run_nf/last.safetensors" -o "$WORK/keep.onnx"
expect 1 "no tensor 'features.enc.conv1.weight' (was it written for another model?)" \
    "a checkpoint of another graph names the tensor" -- \
    "$NETRUN" export "$WORK/unet.netg" --weights "$WORK/run_every_op/last.safetensors" -o "$WORK/keep.onnx"
expect 1 "$WORK/no/such/m.onnx: cannot write" "an unwritable output is named" -- \
    "$NETRUN" export "$WORK/unet.netg" --weights "$WORK/run_unet/last.safetensors" -o "$WORK/no/such/m.onnx"
mkdir "$WORK/dir.onnx"
expect 1 "dir.onnx: cannot write: a folder, not a regular file" "a folder in the way of the output" -- \
    "$NETRUN" export "$WORK/unet.netg" --weights "$WORK/run_unet/last.safetensors" -o "$WORK/dir.onnx"
expect 2 "export: -o MODEL.onnx is required" "export without -o" -- \
    "$NETRUN" export "$WORK/unet.netg" --weights "$WORK/run_unet/last.safetensors"
[ "$(cat "$WORK/keep.onnx")" = old ] && [ -z "$(ls "$WORK" | grep '\.tmp\.')" ] &&
    ok "failed exports left the old file and no temporary" || fail "a failed export changed $WORK: $(ls "$WORK")"
finish
