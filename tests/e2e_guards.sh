#!/usr/bin/env bash
# e2e_guards.sh — numbers and sizes netrun refuses before they do harm
# (issue 24): weights that become NaN or infinite while the loss stays finite
# stop training at the step, naming the tensor, with the last good checkpoint
# kept; a checkpoint holding a NaN is never written, nor read by --init,
# --resume or --weights; a mask of another size than its image is found
# when the dataset is opened; predict's memory is bounded by the window, not
# the image times the classes; a training set without labelled pixels is
# refused, a validation set without them warned about; a -D value beyond f32
# is a clear error of netc.  Needs DATA_FIXTURE (tests/data_fixture.c).
. "$(dirname "$0")/e2e_lib.sh"
D=$WORK/train
FIX=$DATA_FIXTURE
"$GEN_DATA" --out "$D" --count 8 --size 16 --classes 4 --seed 1 >/dev/null
SMALL=(-D BASE=4 -D SIZE=16 -D DEPTH=2 -D BATCH=4 -D CLASSES=4)
"$NETC" "$SOURCE_ROOT/models/unet.net" "${SMALL[@]}" -o "$WORK/u.netg" || fail "compile"

# --- non-finite weights ---------------------------------------------------
# Under valgrind (E2E_VALGRIND) only what no other script runs: this check
# runs after every step of every training there.
if [ -n "${E2E_VALGRIND:-}" ]; then
    echo "# skip: weights that become NaN (valgrind: the check runs in every training of the other scripts)"
else
    # unet.net's body with plain SGD at lr 1e3: at seed 2 a conv's weights become
    # NaN at step 3 while ReLU and max-pooling keep the loss finite (netrun 0.2
    # trained on to step 20 and exited 0 with NaN in 36 of them)
    sed -e "s#^import \"lib/#import \"$SOURCE_ROOT/models/lib/#" -e 's/with adam(lr = LR, clip = 0.01)/with sgd(lr = 1e3)/' \
        "$SOURCE_ROOT/models/unet.net" > "$WORK/sgd.net"
    "$NETC" "$WORK/sgd.net" "${SMALL[@]}" -o "$WORK/sgd.netg" || fail "compile sgd"
    # (step 3 and features.deeper.up.conv1.weight here; the float rounding of
    # other kernels may move them)
    out=$("$NETRUN" train "$WORK/sgd.netg" --data "$D" --epochs 10 --seed 2 --out "$WORK/nan" --quiet 2>&1)
    status=$?
    bad=$(grep -o "the weights became non-finite at step [0-9]*: tensor '[^']*' holds NaN at element" <<<"$out" |
        grep -o 'step [0-9]*' | grep -o '[0-9]*')
    [ "$status" = 1 ] && [ -n "$bad" ] && ok "train stops when the weights become NaN, naming the tensor and the step ($bad)" ||
        fail "weights NaN: exit $status: $(tail -2 <<<"$out")"
    at=$(grep -ao '"step":"[0-9]*"' "$WORK/nan/last.safetensors" | grep -o '[0-9]*')
    [ -n "$at" ] && [ -n "$bad" ] && [ "$at" -lt "$bad" ] &&
        ok "last.safetensors keeps the last good epoch (step $at)" || fail "last.safetensors holds step '$at'"
    expect 0 "" "... and loads (its weights are finite)" -- \
        "$NETRUN" eval "$WORK/sgd.netg" --weights "$WORK/nan/last.safetensors" --data "$D"
fi

# poison CKPT: a NaN as the first element of the first tensor of CKPT's data
poison() {
    local n
    n=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    printf '\000\000\300\177' | dd of="$1" bs=1 seek=$((8 + n)) conv=notrunc 2>/dev/null
}
"$NETRUN" train "$WORK/u.netg" --data "$D" --epochs 1 --out "$WORK/good" --quiet || fail "train a checkpoint"
cp "$WORK/good/last.safetensors" "$WORK/nan.safetensors"
poison "$WORK/nan.safetensors"
msg="$WORK/nan.safetensors: tensor '"
out=$("$NETRUN" eval "$WORK/u.netg" --weights "$WORK/nan.safetensors" --data "$D" 2>&1)
status=$?
[ "$status" = 1 ] && grep -qF "$msg" <<<"$out" && grep -q "' holds NaN at element 0 of [0-9]*$" <<<"$out" &&
    ok "eval --weights refuses a NaN checkpoint, naming the file, tensor and element" ||
    fail "eval of a NaN checkpoint: exit $status: $(tail -2 <<<"$out")"
if [ -z "${E2E_VALGRIND:-}" ]; then # the same nr_ckpt_load
    expect 1 "$msg" "train --init refuses a NaN checkpoint" -- \
        "$NETRUN" train "$WORK/u.netg" --data "$D" --epochs 1 --out "$WORK/init" --init "$WORK/nan.safetensors"
    expect 1 "$msg" "train --resume refuses a NaN checkpoint" -- \
        "$NETRUN" train "$WORK/u.netg" --data "$D" --epochs 2 --out "$WORK/good" --resume "$WORK/nan.safetensors"
    expect 1 "$msg" "predict --weights refuses a NaN checkpoint" -- \
        "$NETRUN" predict "$WORK/u.netg" --weights "$WORK/nan.safetensors" --input "$D/images" --output "$WORK/pred"
fi

# --- data errors found when the data is opened ----------------------------
# a mask of another size than its image: found from the headers before the
# first step (netrun 0.2 found a validation mask only after the first epoch)
"$GEN_DATA" --out "$WORK/val" --count 4 --size 16 --classes 4 --seed 2 >/dev/null
"$GEN_DATA" --out "$WORK/v24" --count 4 --size 24 --classes 4 --seed 2 >/dev/null
"$FIX" make "$WORK/val" "$WORK/valj" --jpeg || fail "fixture jpeg"
cp "$WORK/v24/masks/img_0002.png" "$WORK/val/masks/"
out=$("$NETRUN" train "$WORK/u.netg" --data "$D" --val "$WORK/val" --epochs 1 --out "$WORK/sizes" 2>&1)
status=$?
if [ "$status" = 1 ] && grep -qF "$WORK/val/masks/img_0002.png: 24x24, but its image $WORK/val/images/img_0002.png is 16x16" <<<"$out" &&
    ! grep -q "^training " <<<"$out"; then
    ok "a mask of another size than its image is an error before training starts, naming both"
else
    fail "mask size: exit $status: $(tail -3 <<<"$out")"
fi
cp "$WORK/v24/masks/img_0003.png" "$WORK/valj/masks/"
expect 1 "$WORK/valj/masks/img_0003.png: 24x24, but its image $WORK/valj/images/img_0003.jpg is 16x16" \
    "... and with a JPEG image (its SOF header)" -- \
    "$NETRUN" eval "$WORK/u.netg" --weights "$WORK/good/last.safetensors" --data "$WORK/valj"

# masks without a labelled pixel (all 255, the ignore label): netrun 0.2
# trained with loss 0 and NaN metrics and wrote a "best" checkpoint
unlabel() { # unlabel DIR: every mask of DIR made all 255, at its size
    /usr/bin/env python3 - "$1"/masks/*.png <<'PY'
import struct, sys, zlib
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        w, h = struct.unpack('>II', f.read(24)[16:24])
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    rows = b''.join(b'\0' + b'\xff' * w for _ in range(h))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) +
                chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
PY
}
cp -r "$D" "$WORK/blank"
unlabel "$WORK/blank"
expect 1 "$WORK/blank: no labelled pixels in its 8 masks (every pixel is 255, the ignore label): nothing to train on" \
    "a training set without a labelled pixel is refused" -- "$NETRUN" train "$WORK/u.netg" --data "$WORK/blank" --epochs 1 --out "$WORK/blankrun"
[ ! -e "$WORK/blankrun/best.safetensors" ] && ok "... and no best.safetensors is written" || fail "best.safetensors written"
cp -r "$D" "$WORK/blankval"
unlabel "$WORK/blankval"
[ -n "${E2E_VALGRIND:-}" ] || expect 0 "warning: $WORK/blankval: no labelled pixels in its 8 masks (every pixel is 255, the ignore label): the validation metrics are undefined (nan)" \
    "a validation set without a labelled pixel is a warning" -- "$NETRUN" train "$WORK/u.netg" --data "$D" --val "$WORK/blankval" --epochs 1 --out "$WORK/blankval_run"

# --- memory of eval/predict: the window's, not the image's ------------------
# the class sums of a sliding-window prediction are kept for the rows of
# tiles in flight only: a 1024x1024 image at 32 classes with 32x32 tiles
# peaks under 64 MB (netrun 0.2 kept K x H x W sums: 148 MB; an 8192x8192
# PNG of 65 KB took 1.9 GB at 5 classes); the masks are the same
# (tests/test_window.c checks them against a tile-by-tile reference)
if [ "$QUICK" = 1 ]; then
    echo "# skip: predict's peak memory (QUICK: sanitizers and valgrind add their own)"
else
    "$GEN_DATA" --out "$WORK/big" --count 1 --size 1024 --classes 4 --seed 1 >/dev/null
    "$GEN_DATA" --out "$WORK/tiles" --count 4 --size 32 --classes 4 --seed 2 >/dev/null
    cat > "$WORK/k32.net" <<'NET'
input image : f32[1, 1, 32, 32]
input mask  : labels[1, 32, 32] classes 32
logits = conv2d(image, 32, 1)
output prediction = softmax(logits, axis = 1)
minimize cross_entropy(logits, mask) with adam(lr = 1e-3)
option overlap = 0
NET
    "$NETC" "$WORK/k32.net" -o "$WORK/k32.netg" || fail "compile k32"
    "$NETRUN" train "$WORK/k32.netg" --data "$WORK/tiles" --steps 1 --out "$WORK/k32" --quiet || fail "train k32"
    # peak_kb CMD...: the command's peak resident memory in KiB
    peak_kb() { /usr/bin/env python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"; }
    kb=$(peak_kb "$NETRUN" predict "$WORK/k32.netg" --weights "$WORK/k32/last.safetensors" --input "$WORK/big/images" \
        --output "$WORK/bigpred" --threads 1) || fail "predict the 1024x1024 image"
    [ -n "$kb" ] && [ "$kb" -lt 65536 ] && ok "predict 1024x1024 at 32 classes peaks at $((kb / 1024)) MB (< 64)" ||
        fail "predict 1024x1024 at 32 classes peaks at ${kb:-?} KB"
fi

# --- numbers netc cannot represent ----------------------------------------
# 1e39 is finite as a double, infinite as f32: netc 0.2 aborted (SIGABRT)
# with an internal error (tests/errors/number_f32_range.net: the literal)
expect 1 "unet.net:28:1: error: -D LR=1e39: out of range (f32 holds at most 3.40282e+38)" "netc -D LR=1e39 is a clear error" -- \
    "$NETC" "$SOURCE_ROOT/models/unet.net" "${SMALL[@]}" -D LR=1e39 -o "$WORK/inf.netg"

finish
