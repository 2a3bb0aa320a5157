#!/usr/bin/env bash
# e2e_workflow.sh — train's workflow options on a tiny model: --init by name
# and shape (a head of another class count, a deeper network, nothing
# matching, --init-strict), --freeze (frozen weights and optimizer state keep
# their bits under AdamW's weight decay), option ema (raw weights kept,
# validation on the average, exact resumption), extending a finished run with
# --resume --steps MORE (bit for bit the longer run), --patience (early
# stopping, run.json says why) and --folds K --fold I (split.json, disjoint
# folds that cover the set); each one's bad input: a clear error, nothing
# written.
. "$(dirname "$0")/e2e_lib.sh"
D=$WORK/train V=$WORK/val
"$GEN_DATA" --out "$D" --count 16 --size 16 --classes 4 --seed 1 >/dev/null
"$GEN_DATA" --out "$V" --count 4 --size 16 --classes 4 --seed 2 >/dev/null
# model CLASSES EXTRA_LAYER LR: two convolutions (a third with EXTRA_LAYER) and a 1x1 head
model() {
    cat <<EOF
input image : f32[4, 1, 16, 16]
input mask : labels[4, 16, 16] classes $1
h = relu(conv2d(image, 8, 3, pad = same))
h2 = relu(conv2d(h, 8, 3, pad = same))
$([ "$2" = 1 ] && echo "h2 = relu(conv2d(h2, 8, 3, pad = same))")
logits = conv2d(h2, $1, 1)
output prediction = softmax(logits, axis = 1)
minimize cross_entropy(logits, mask) with adamw(lr = $3, weight_decay = 0.1)
EOF
}
model 4 0 0.01 > "$WORK/a.net"
model 6 0 0.01 > "$WORK/head6.net"
model 4 1 0.01 > "$WORK/deep.net"
model 4 0 1e-30 > "$WORK/still.net"
for m in a head6 still $([ "$QUICK" = 1 ] || echo deep); do "$NETC" "$WORK/$m.net" -o "$WORK/$m.netg" || fail "compile $m.net"; done
cat > "$WORK/other.net" <<'EOF'
input image : f32[4, 1, 16, 16]
input mask : labels[4, 16, 16] classes 4
z = conv2d(image, 4, 5, pad = same)
output prediction = softmax(z, axis = 1)
minimize cross_entropy(z, mask) with adam(lr = 0.01)
EOF
"$NETC" "$WORK/other.net" -o "$WORK/other.netg" || fail "compile other.net"
# tensor NAME of a safetensors file as hex (python3, standard library)
st() {
    python3 - "$@" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
if sys.argv[2] == "--meta":
    print(hdr["__metadata__"].get(sys.argv[3], ""))
elif sys.argv[2] == "--names":
    print("\n".join(k for k in hdr if k != "__metadata__"))
else:
    b, e = hdr[sys.argv[2]]["data_offsets"]
    print(raw[8 + n + b:8 + n + e].hex())
PY
}
train() { "$NETRUN" train "$@" --data "$D" --seed 3 --quiet; }
A=$WORK/runa
train "$WORK/a.netg" --steps 4 --out "$A" || fail "train the base model"
W1=h.conv1.weight
st "$A/last.safetensors" --names > "$WORK/names"

# --- transfer learning ---------------------------------------------------
expect 0 "logits.conv1.weight: 6x8x1x1 in the model, 4x8x1x1 in the checkpoint" \
    "--init: a head of another class count is skipped, said why" -- \
    "$NETRUN" train "$WORK/head6.netg" --data "$D" --steps 1 --init "$A/last.safetensors" --freeze 'h.*' --out "$WORK/h6"
if [ "$QUICK" != 1 ]; then # QUICK (ASan, valgrind): fewer processes, the same code paths
grep -q "4 of 6 parameter tensors" <("$NETRUN" train "$WORK/head6.netg" --data "$D" --steps 1 --init "$A/last.safetensors" \
    --out "$WORK/h6b" 2>/dev/null) && [ "$(st "$WORK/h6/last.safetensors" $W1)" = "$(st "$A/last.safetensors" $W1)" ] &&
    ok "--init loaded the 4 tensors that match ($W1 has the checkpoint's bits)" || fail "--init did not load $W1"
expect 0 "not in the checkpoint" "--init: a deeper network's extra layer keeps its initial values" -- \
    "$NETRUN" train "$WORK/deep.netg" --data "$D" --steps 1 --init "$A/last.safetensors" --out "$WORK/deep"
expect 0 "in the checkpoint, not in the model" "--init from a deeper network: its extra tensors are listed" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$D" --steps 1 --init "$WORK/deep/last.safetensors" --out "$WORK/fromdeep"
else echo "# skip (QUICK): --init's counts, a deeper network"; fi
expect 1 "the model needs F32 6x8x1x1" "--init-strict: every parameter with its shape, as before" -- \
    "$NETRUN" train "$WORK/head6.netg" --data "$D" --steps 1 --init "$A/last.safetensors" --init-strict --out "$WORK/strict"
[ -e "$WORK/strict" ] && fail "--init-strict failed but wrote $WORK/strict" || ok "--init-strict: nothing written"
expect 1 "none of its tensors matches a parameter" "--init with nothing matching is an error" -- \
    "$NETRUN" train "$WORK/other.netg" --data "$D" --steps 1 --init "$A/last.safetensors" --out "$WORK/none"
[ -e "$WORK/none" ] && fail "--init with nothing matching wrote $WORK/none" || ok "--init with nothing matching: nothing written"
if [ "$QUICK" != 1 ]; then # QUICK (ASan, valgrind): fewer processes, the same code paths
expect 2 "--init-strict needs --init" "--init-strict alone is a usage error" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$D" --init-strict
else echo "# skip (QUICK): --init-strict alone"; fi

# --freeze: the frozen weights, their average (ema) and their Adam moments keep their bits
F=$WORK/frozen
expect 0 "frozen: 2 of" "--freeze 'h.*' freezes the first layer" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$D" --steps 3 --init "$A/last.safetensors" --freeze 'h.*' --set ema=0.9 \
    --out "$F"
for t in $(grep '^h\.' "$WORK/names" | grep -v '\.adam_'); do
    [ "$(st "$F/last.safetensors" "raw.$t")" = "$(st "$A/last.safetensors" "$t")" ] &&
        [ "$(st "$F/last.safetensors" "$t")" = "$(st "$A/last.safetensors" "$t")" ] &&
        ok "frozen $t kept its bits, and so did its average" || fail "frozen $t or its average changed"
    [ "$(st "$F/last.safetensors" "$t.adam_m" | tr -d 0)" = "" ] && ok "frozen $t: its first moment stays 0" ||
        fail "frozen $t: its Adam moment changed"
done
t=$(grep '^h2\.' "$WORK/names" | grep -v '\.adam_' | head -1)
[ "$(st "$F/last.safetensors" "$t")" != "$(st "$A/last.safetensors" "$t")" ] && ok "the others train ($t changed)" ||
    fail "$t did not change"
expect 1 "--freeze 'enc.*' matches no parameter" "an unmatched --freeze pattern is an error" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$D" --steps 1 --freeze 'h.*,enc.*' --out "$WORK/nofreeze"
[ -e "$WORK/nofreeze" ] && fail "an unmatched --freeze wrote $WORK/nofreeze" || ok "unmatched --freeze: nothing written"
if [ "$QUICK" != 1 ]; then # QUICK (ASan, valgrind): fewer processes, the same code paths
expect 1 "nothing would train" "freezing every parameter is an error" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$D" --steps 1 --freeze '*' --out "$WORK/allfrozen"
else echo "# skip (QUICK): freezing everything"; fi

# --- EMA, and extending a finished run ------------------------------------
train "$WORK/a.netg" --steps 8 --set ema=0.9 --out "$WORK/ema8" || fail "train with ema"
names=$(st "$WORK/ema8/last.safetensors" --names)
grep -qx "raw.$W1" <<<"$names" && ok "ema: the raw weights are kept as raw.NAME" ||
    fail "ema: no raw.$W1 in the checkpoint"
[ "$(st "$WORK/ema8/last.safetensors" "$W1")" != "$(st "$WORK/ema8/last.safetensors" "raw.$W1")" ] &&
    ok "ema: the checkpoint's weights are the average, not the raw ones" || fail "ema: the average equals the raw weights"
if [ "$QUICK" != 1 ]; then # QUICK (ASan, valgrind): fewer processes, the same code paths
# after step 1 the average is d * w0 + (1 - d) * w1, d = min(0.9, 2 / 11): w0 the initial
# weights (still.netg: the same names and seed, a learning rate of 1e-30), w1 the raw ones
train "$WORK/a.netg" --steps 1 --set ema=0.9 --out "$WORK/ema1" || fail "train 1 step with ema"
train "$WORK/still.netg" --steps 1 --out "$WORK/w0" || fail "train 1 step at lr 1e-30"
python3 - "$(st "$WORK/w0/last.safetensors" $W1)" "$(st "$WORK/ema1/last.safetensors" raw.$W1)" \
    "$(st "$WORK/ema1/last.safetensors" $W1)" <<'PY' && ok "ema: the average after step 1 is the warm-up's (d = 2/11)" ||
import struct, sys
w0, w1, avg = (struct.unpack(f"<{len(h) // 8}f", bytes.fromhex(h)) for h in sys.argv[1:4])
d = 2 / 11
assert w0 != w1 and all(abs(a - (d * x + (1 - d) * y)) <= 1e-6 * (1 + abs(a)) for x, y, a in zip(w0, w1, avg))
PY
    fail "ema: the average after step 1 is not d * w0 + (1 - d) * w1"
else echo "# skip (QUICK): the warm-up's first average"; fi
train "$WORK/a.netg" --steps 4 --set ema=0.9 --out "$WORK/ema4" || fail "train 4 steps with ema"
expect 0 "extending the finished run" "--resume of a finished run with --steps MORE extends it" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$D" --seed 3 --steps 4 --set ema=0.9 --out "$WORK/ema4" \
    --resume "$WORK/ema4/last.safetensors"
cmp -s "$WORK/ema4/last.safetensors" "$WORK/ema8/last.safetensors" &&
    ok "4 steps, extended by 4: the same bits as 8 steps (weights, average, optimizer)" ||
    fail "the extended run differs from the straight one"
[ "$(st "$WORK/ema4/last.safetensors" --meta total_steps)" = 8 ] && ok "the extended run's total_steps is 8" ||
    fail "total_steps: $(st "$WORK/ema4/last.safetensors" --meta total_steps)"
if [ "$QUICK" != 1 ]; then # QUICK (ASan, valgrind): fewer processes, the same code paths
expect 1 "already at step 8 of 8; --steps MORE extends the finished run" "resuming a finished run without --steps says how to extend it" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$D" --seed 3 --set ema=0.9 --epochs 2 --out "$WORK/ema4" \
    --resume "$WORK/ema4/last.safetensors"
expect 1 "--set ema=0.9" "resume with another ema is refused" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$D" --seed 3 --steps 4 --out "$WORK/ema4" --resume "$WORK/ema4/last.safetensors"
else echo "# skip (QUICK): resume refusals"; fi
E=$WORK/emaval
train "$WORK/a.netg" --steps 8 --set ema=0.9 --val "$V" --out "$E" || fail "train with ema and validation"
"$NETRUN" eval "$WORK/a.netg" --weights "$E/last.safetensors" --data "$V" --json > "$WORK/eval.json"
[ "$(json_num "$WORK/eval.json" loss)" = "$(tail -1 "$E/metrics.jsonl" | grep -o '"loss":[-0-9.eE+]*' | cut -d: -f2)" ] &&
    ok "ema: validation ran on the average (eval of last.safetensors gives its loss)" ||
    fail "ema: validation loss $(tail -1 "$E/metrics.jsonl" | head -c 200) vs eval $(head -c 200 "$WORK/eval.json")"

# --- early stopping --------------------------------------------------------
P=$WORK/patience
expect 0 "early stopping after step 12 of 40: 2 validations without a better miou_fg" \
    "--patience 2 stops a run that does not improve" -- \
    "$NETRUN" train "$WORK/still.netg" --data "$D" --val "$V" --epochs 10 --seed 3 --patience 2 --out "$P"
[ "$(tail -1 "$P/log.csv" | cut -d, -f1,2)" = "3,12" ] && ok "the early-stopped run validated 3 epochs" ||
    fail "log.csv ends: $(tail -1 "$P/log.csv")"
grep -q '"stopped_early":"early stopping after step 12' "$P/run.json" && grep -q '"total_steps":40' "$P/run.json" &&
    ok "run.json says why it stopped; total_steps unchanged" || fail "run.json: $(cat "$P/run.json" | head -c 300)"
if [ "$QUICK" != 1 ]; then # QUICK (ASan, valgrind): fewer processes, the same code paths
expect 2 "--patience takes an integer in 1.." "--patience 0 is a usage error" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$D" --patience 0
else echo "# skip (QUICK): --patience 0"; fi

# --- cross-validation ------------------------------------------------------
for i in $([ "$QUICK" = 1 ] && echo 0 || echo 0 1 2); do
    expect 0 "" "--folds 3 --fold $i" -- "$NETRUN" train "$WORK/a.netg" --data "$D" --folds 3 --fold $i --steps 1 \
        --out "$WORK/fold$i" --quiet
done
if [ "$QUICK" != 1 ]; then # QUICK (ASan, valgrind): fewer processes, the same code paths
python3 - "$WORK" <<'PY' && ok "the 3 folds' held-out sets are disjoint, cover the 16 images, sizes 5-6" || fail "split.json"
import json, sys
w = sys.argv[1]
s = [json.load(open(f"{w}/fold{i}/split.json")) for i in range(3)]
vals = [set(x["val"]) for x in s]
assert all(x["folds"] == 3 and x["fold"] == i for i, x in enumerate(s))
assert all(not (set(x["train"]) & set(x["val"])) and len(x["train"]) + len(x["val"]) == 16 for x in s)
assert set().union(*vals) == set(s[0]["train"]) | set(s[0]["val"]) and sum(map(len, vals)) == 16
assert sorted(map(len, vals)) == [5, 5, 6]
PY
grep -q '"step":1,' "$WORK/fold0/metrics.jsonl" && ok "a fold validates on its held-out images" || fail "no validation"
"$NETRUN" train "$WORK/a.netg" --data "$D" --folds 3 --fold 1 --steps 1 --seed 9 --out "$WORK/fold1b" --quiet
cmp -s "$WORK/fold1/split.json" "$WORK/fold1b/split.json" && ok "the split does not depend on the seed" || fail "split.json differs"
else echo "# skip (QUICK): all 3 folds, the seed"; fi
expect 2 "--fold 3 is not one of the 3 folds (0..2)" "a fold index out of range" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$D" --folds 3 --fold 3 --out "$WORK/bad"
if [ "$QUICK" != 1 ]; then # QUICK (ASan, valgrind): fewer processes, the same code paths
expect 2 "--folds takes an integer in 2.." "--folds 1" -- "$NETRUN" train "$WORK/a.netg" --data "$D" --folds 1 --fold 0
expect 2 "--folds K needs --fold I" "--folds without --fold" -- "$NETRUN" train "$WORK/a.netg" --data "$D" --folds 3
expect 2 "give --val or --folds, not both" "--folds with --val" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$D" --val "$V" --folds 3 --fold 0
else echo "# skip (QUICK): --folds usage errors"; fi
expect 1 "--folds 17: the training set has 16 images" "more folds than images" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$D" --folds 17 --fold 0 --out "$WORK/bad"
# a dataset whose masks are all background (16x16 8-bit gray zeros, written by zlib)
mkdir -p "$WORK/bg/images" "$WORK/bg/masks"
python3 - "$WORK/bg/masks/img_0000.png" <<'PY'
import struct, sys, zlib
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(b"\0" * 17 * 16)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
for f in img_0000 img_0001 img_0002; do
    cp "$D/images/$f.png" "$WORK/bg/images/"
    cp "$WORK/bg/masks/img_0000.png" "$WORK/bg/masks/$f.png" 2>/dev/null
done
expect 1 "the training masks hold a single class" "a one-class dataset cannot be split" -- \
    "$NETRUN" train "$WORK/a.netg" --data "$WORK/bg" --folds 2 --fold 0 --out "$WORK/bad"
[ -e "$WORK/bad" ] && fail "a bad --folds wrote $WORK/bad" || ok "bad --folds: nothing written"
finish
