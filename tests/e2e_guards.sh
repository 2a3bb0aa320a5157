#!/usr/bin/env bash
# e2e_guards.sh — numbers and sizes netrun refuses before they do harm
# (issue 24): weights that become NaN or infinite while the loss stays finite
# stop training at the step, naming the tensor, with the last good checkpoint
# kept; a checkpoint holding a NaN is never written, nor read by --init,
# --resume or --weights; a -D value beyond f32 is a clear error of netc.
. "$(dirname "$0")/e2e_lib.sh"
D=$WORK/train
"$GEN_DATA" --out "$D" --count 8 --size 16 --classes 4 --seed 1 >/dev/null
SMALL=(-D BASE=4 -D SIZE=16 -D DEPTH=2 -D BATCH=4 -D CLASSES=4)
"$NETC" "$SOURCE_ROOT/models/unet.net" "${SMALL[@]}" -o "$WORK/u.netg" || fail "compile"

# --- non-finite weights ---------------------------------------------------
# unet.net's body with plain SGD at lr 1e3: at seed 2 a conv's weights become
# NaN at step 3 while ReLU and max-pooling keep the loss finite (netrun 0.2
# trained on to step 20 and exited 0 with NaN in 36 of them)
sed -e "s#^import \"lib/#import \"$SOURCE_ROOT/models/lib/#" -e 's/with adam(lr = LR, clip = 0.01)/with sgd(lr = 1e3)/' \
    "$SOURCE_ROOT/models/unet.net" > "$WORK/sgd.net"
"$NETC" "$WORK/sgd.net" "${SMALL[@]}" -o "$WORK/sgd.netg" || fail "compile sgd"
expect 1 "the weights became non-finite at step 3: tensor 'features.deeper.up.conv1.weight' holds NaN at element" \
    "train stops when the weights become NaN, naming the tensor and the step" -- \
    "$NETRUN" train "$WORK/sgd.netg" --data "$D" --epochs 10 --seed 2 --out "$WORK/nan" --quiet
expect 0 "" "the last good checkpoint (step 2) is kept and loads" -- \
    "$NETRUN" eval "$WORK/sgd.netg" --weights "$WORK/nan/last.safetensors" --data "$D"
grep -aq '"step":"2"' "$WORK/nan/last.safetensors" && ok "last.safetensors holds step 2" ||
    fail "last.safetensors: $(grep -ao '"step":"[0-9]*"' "$WORK/nan/last.safetensors")"

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
expect 1 "$msg" "train --init refuses a NaN checkpoint" -- \
    "$NETRUN" train "$WORK/u.netg" --data "$D" --epochs 1 --out "$WORK/init" --init "$WORK/nan.safetensors"
expect 1 "holds NaN at element 0 of" "... saying where" -- \
    "$NETRUN" train "$WORK/u.netg" --data "$D" --epochs 1 --out "$WORK/init" --init "$WORK/nan.safetensors"
expect 1 "$msg" "train --resume refuses a NaN checkpoint" -- \
    "$NETRUN" train "$WORK/u.netg" --data "$D" --epochs 2 --out "$WORK/good" --resume "$WORK/nan.safetensors"
expect 1 "$msg" "eval --weights refuses a NaN checkpoint" -- \
    "$NETRUN" eval "$WORK/u.netg" --weights "$WORK/nan.safetensors" --data "$D"
expect 1 "$msg" "predict --weights refuses a NaN checkpoint" -- \
    "$NETRUN" predict "$WORK/u.netg" --weights "$WORK/nan.safetensors" --input "$D/images" --output "$WORK/pred"

# --- numbers netc cannot represent ----------------------------------------
# 1e39 is finite as a double, infinite as f32: netc 0.2 aborted (SIGABRT)
# with an internal error (tests/errors/number_f32_range.net: the literal)
expect 1 "unet.net:28:1: error: -D LR=1e39: out of range (f32 holds at most 3.40282e+38)" "netc -D LR=1e39 is a clear error" -- \
    "$NETC" "$SOURCE_ROOT/models/unet.net" "${SMALL[@]}" -D LR=1e39 -o "$WORK/inf.netg"

finish
