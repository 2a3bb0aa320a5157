#!/usr/bin/env bash
# e2e_cli.sh — the tools as a user meets them: usage errors, bad files,
# corrupt graphs, bad data, the full-size model compiling.
. "$(dirname "$0")/e2e_lib.sh"
M=$SOURCE_ROOT/models/unet.net
SMALL=(-D BASE=4 -D SIZE=16 -D DEPTH=2 -D BATCH=2 -D CLASSES=4 -D TAU=0 -D WEIGHTS=balanced)

expect 2 "usage: netc" "netc without arguments" -- "$NETC"
expect 2 "unknown option" "netc unknown option" -- "$NETC" "$M" --frobnicate
expect 2 "--emit takes graph, dot, svg or plan" "netc bad --emit" -- "$NETC" "$M" --emit xml
expect 2 "-D needs NAME=VALUE" "netc malformed -D" -- "$NETC" "$M" -D BASE
expect 1 "cannot read '$WORK/nope.net'" "netc missing file" -- "$NETC" "$WORK/nope.net"
expect 1 "-D BASSE: the model has no const BASSE" "netc -D typo" -- "$NETC" "$M" -D BASSE=8 -o "$WORK/x.netg"
expect 0 "" "netc full-size unet.net compiles" -- "$NETC" "$M" -o "$WORK/full.netg"
if [ "$QUICK" = 1 ]; then # initializing 357 MiB of state: minutes under valgrind
    echo "# skip: netrun info on the full model (QUICK)"
else
    "$NETRUN" info "$WORK/full.netg" > "$WORK/full.info" 2>&1 || fail "netrun info on the full model: exit $?"
    grep -q "entry train" "$WORK/full.info" && ok "netrun info on the full model" || fail "netrun info: $(tail -2 "$WORK/full.info")"
    grep -q "parameters: 31" "$WORK/full.info" && ok "full model has the seed's ~31M parameters" ||
        fail "full model parameters: $(grep parameters "$WORK/full.info")"
fi
expect 0 "conv2d(" "--emit graph" -- "$NETC" "$M" "${SMALL[@]}" --emit graph
expect 0 "digraph" "--emit dot" -- "$NETC" "$M" "${SMALL[@]}" --emit dot
expect 0 "liveness bound" "--emit plan" -- "$NETC" "$M" "${SMALL[@]}" --emit plan

"$NETC" "$M" "${SMALL[@]}" -o "$WORK/s.netg"
head -c 100 "$WORK/s.netg" > "$WORK/trunc.netg"
expect 1 "trunc.netg" "netrun rejects a truncated graph" -- "$NETRUN" info "$WORK/trunc.netg"
cp "$WORK/s.netg" "$WORK/flip.netg"
printf '\x55' | dd of="$WORK/flip.netg" bs=1 seek=200 conv=notrunc 2>/dev/null
expect 1 "checksum" "netrun rejects a corrupt graph" -- "$NETRUN" info "$WORK/flip.netg"
expect 1 "bad magic" "netrun rejects a model source as graph" -- "$NETRUN" info "$M"
expect 2 "--data DIR is required" "train without --data" -- "$NETRUN" train "$WORK/s.netg"
expect 2 "unknown command" "netrun unknown command" -- "$NETRUN" frobnicate "$WORK/s.netg"
expect 2 "--epochs takes an integer" "netrun bad --epochs" -- "$NETRUN" train "$WORK/s.netg" --data x --epochs two
expect 0 "GFLOP per step" "netrun bench times the train entry" -- "$NETRUN" bench "$WORK/s.netg" --steps 2
expect 0 '"median_s"' "netrun bench --json, infer entry" -- "$NETRUN" bench "$WORK/s.netg" --entry infer --steps 2 --json
expect 1 "has no 'eval2' entry" "netrun bench of a missing entry" -- "$NETRUN" bench "$WORK/s.netg" --entry eval2

D=$WORK/data
"$GEN_DATA" --out "$D" --count 6 --size 16 --classes 4 --seed 3 >/dev/null
expect 0 "class weights (balanced" "train prints the class weights it computed" -- "$NETRUN" train "$WORK/s.netg" --data "$D" --steps 2 --out "$WORK/run"
expect 1 "No such file" "train on a missing folder" -- "$NETRUN" train "$WORK/s.netg" --data "$WORK/none" --steps 1 --out "$WORK/run2"

# a mask with a class value the model does not have
B=$WORK/bad1; cp -r "$D" "$B"
"$GEN_DATA" --out "$WORK/k9" --count 6 --size 16 --classes 9 --seed 3 --max-objects 8 >/dev/null
cp "$WORK/k9/masks/img_0002.png" "$B/masks/img_0002.png"
expect 1 "masks/img_0002.png: value" "out-of-range mask value names the file" -- "$NETRUN" train "$WORK/s.netg" --data "$B" --steps 1 --out "$WORK/run3"
# a corrupt PNG
B=$WORK/bad2; cp -r "$D" "$B"
head -c 60 "$D/images/img_0001.png" > "$B/images/img_0001.png"
expect 1 "images/img_0001.png" "corrupt PNG names the file" -- "$NETRUN" train "$WORK/s.netg" --data "$B" --steps 3 --out "$WORK/run4"
# an image without a mask
B=$WORK/bad3; cp -r "$D" "$B"; rm "$B/masks/img_0004.png"
expect 1 "img_0004.png" "missing mask names the image" -- "$NETRUN" train "$WORK/s.netg" --data "$B" --steps 1 --out "$WORK/run5"
# another image size: cropped to the model input (option size = crop), the
# class index read at the masks' own size
"$GEN_DATA" --out "$WORK/big" --count 2 --size 32 --classes 4 --seed 3 >/dev/null
expect 0 "class statistics: 2 masks indexed" "larger images train on crops" -- "$NETRUN" train "$WORK/s.netg" --data "$WORK/big" --steps 1 --out "$WORK/run6"
# checkpoints of another model are refused by name or shape
"$NETC" "$M" -D BASE=2 -D SIZE=16 -D DEPTH=2 -D BATCH=2 -D CLASSES=4 -o "$WORK/other.netg"
expect 1 "the model needs F32" "checkpoint of another model" -- "$NETRUN" eval "$WORK/other.netg" --weights "$WORK/run/last.safetensors" --data "$D"
echo "not a checkpoint" > "$WORK/junk.safetensors"
expect 1 "junk.safetensors" "corrupt checkpoint names the file" -- "$NETRUN" eval "$WORK/s.netg" --weights "$WORK/junk.safetensors" --data "$D"
finish
