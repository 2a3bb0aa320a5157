#!/usr/bin/env bash
# e2e_metrics.sh — eval --json's per-image figures on a short real training
# run: each image's Dice and IoU equal a direct computation on the masks
# predict writes, the summaries are their means where defined, HD95 and NSD
# equal the scipy transcription's (tests/scipy_surface.py) on those masks;
# --choose-postprocessing writes postprocessing.json, which eval and predict
# apply (the masks predict writes then give eval's figures again), a bad file
# is refused naming file and key; --fit-temperature writes temperature.json,
# which eval applies.  The Python checks need /usr/bin/python3 with numpy,
# PIL and scipy (skipped without).
. "$(dirname "$0")/e2e_lib.sh"
PY=/usr/bin/python3
M=$SOURCE_ROOT/models/unet.net
D=$WORK/train V=$WORK/val R=$WORK/run
EPOCHS=2
[ "$QUICK" = 1 ] && EPOCHS=1
"$GEN_DATA" --out "$D" --count 8 --size 32 --classes 5 --seed 1 >/dev/null
"$GEN_DATA" --out "$V" --count 6 --size 32 --classes 5 --seed 2 >/dev/null
"$NETC" "$M" -D BASE=4 -D SIZE=32 -D DEPTH=2 -D BATCH=4 -D CLASSES=5 -D LR=3e-3 -D TAU=0 -o "$WORK/u.netg" || fail "compile"
"$NETRUN" train "$WORK/u.netg" --data "$D" --epochs "$EPOCHS" --seed 3 --out "$R" --quiet >/dev/null || fail "train"
W=$R/last.safetensors
"$NETRUN" eval "$WORK/u.netg" --weights "$W" --data "$V" --json > "$WORK/e.json" || fail "eval --json"
"$NETRUN" predict "$WORK/u.netg" --weights "$W" --input "$V/images" --output "$WORK/pred" --quiet || fail "predict"

"$NETRUN" eval "$WORK/u.netg" --weights "$W" --data "$V" --choose-postprocessing --fit-temperature > "$WORK/choose.txt" ||
    fail "eval --choose-postprocessing --fit-temperature"
grep -q "wrote $R/postprocessing.json" "$WORK/choose.txt" && grep -q "wrote $R/temperature.json" "$WORK/choose.txt" &&
    ok "eval --choose-postprocessing --fit-temperature write the run folder's files" || fail "choices: $(cat "$WORK/choose.txt")"
grep -q '"keep_largest":\[' "$R/postprocessing.json" && ok "postprocessing.json lists the steps" || fail "no steps"
# a choice by hand (a short run chooses little): every step kind changes masks
printf '{"kind":"netrun postprocessing","classes":5,"keep_largest":[2,4],
"remove_smaller_than":[{"class":1,"pixels":30},{"class":3,"pixels":30}]}' > "$WORK/hand.json"
"$NETRUN" eval "$WORK/u.netg" --weights "$W" --data "$V" --json --postprocess "$WORK/hand.json" \
    --temperature "$R/temperature.json" > "$WORK/pp.json" || fail "eval --postprocess --temperature"
"$NETRUN" predict "$WORK/u.netg" --weights "$W" --input "$V/images" --output "$WORK/pred_pp" --quiet \
    --postprocess "$WORK/hand.json" || fail "predict --postprocess"

printf '{"kind":"netrun postprocessing","classes":5,"keep_largest":[7],"remove_smaller_than":[]}' > "$WORK/bad.json"
expect 1 "$WORK/bad.json: each class of key \"keep_largest\" must be an integer in 1..4" \
    "eval --postprocess: a bad file is refused, naming the file and key" -- \
    "$NETRUN" eval "$WORK/u.netg" --weights "$W" --data "$V" --postprocess "$WORK/bad.json"
[ "$QUICK" = 1 ] || expect 1 "$WORK/bad.json" "predict --postprocess: the same" -- \
    "$NETRUN" predict "$WORK/u.netg" --weights "$W" --input "$V/images" --output "$WORK/p2" --postprocess "$WORK/bad.json"
printf '{"kind":"netrun temperature","temperature":0}' > "$WORK/badt.json"
expect 1 "$WORK/badt.json: key \"temperature\" must be a number in (0, 100]" "eval --temperature: a bad file is refused" -- \
    "$NETRUN" eval "$WORK/u.netg" --weights "$W" --data "$V" --temperature "$WORK/badt.json"

if ! $PY -c "import numpy, scipy, PIL" 2>/dev/null; then
    echo "# skip: the figure checks need /usr/bin/python3 with numpy, scipy and PIL"
    finish
    exit $?
fi

# check E_JSON PRED_DIR NAME: per-image Dice, IoU, HD95, NSD against the masks in PRED_DIR
check() {
    if out=$($PY - "$1" "$V/masks" "$2" "$SOURCE_ROOT/tests" <<'PY'
import json, math, os, sys
import numpy as np
from PIL import Image
sys.path.insert(0, sys.argv[4])
from scipy_surface import reference
ev = json.load(open(sys.argv[1]))
k = ev["classes"]
n = 0
per = {}
for im in ev["per_image"]:
    stem = os.path.splitext(im["name"])[0]
    t = np.array(Image.open(os.path.join(sys.argv[2], stem + ".png")))
    p = np.array(Image.open(os.path.join(sys.argv[3], stem + ".png")))
    valid = t != 255
    for c in range(k):
        tc, pc = (t == c) & valid, (p == c) & valid
        inter, s = (tc & pc).sum(), tc.sum() + pc.sum()
        want = {"dice": 2 * inter / s if s else None, "iou": inter / (s - inter) if s else None}
        hd, nsd, biou = reference(tc, pc)
        want.update({"hd95": None if math.isnan(hd) else hd, "nsd": None if math.isnan(nsd) else nsd,
                     "boundary_iou": None if math.isnan(biou) else biou})
        for key, w in want.items():
            got = im[key][c]
            assert (got is None) == (w is None), (im["name"], key, c, got, w)
            if w is not None:
                assert abs(got - w) <= 1e-5 * max(1, abs(w)), (im["name"], key, c, got, w)
            per.setdefault((key, c), []).append(got)
    n += 1
assert n == len(os.listdir(sys.argv[3])) - (1 if os.path.isdir(os.path.join(sys.argv[3], "overlays")) else 0)
for c in range(k):
    vals = [v for v in per[("dice", c)] if v is not None]
    want = sum(vals) / len(vals) if vals else None
    got = ev["per_image_summary"]["dice"][c]
    assert (got is None) == (want is None) and (want is None or abs(got - want) < 1e-5), ("summary dice", c, got, want)
    vals = [v for v in per[("hd95", c)] if v is not None]
    assert ev["hd95_images"][c] == len(vals), ("hd95_images", c)
print("%d images, %d classes" % (n, k))
PY
    ); then ok "$3: $out"; else fail "$3: $out"; fi
}
check "$WORK/e.json" "$WORK/pred" "per-image Dice, IoU, HD95, NSD, boundary IoU equal a direct computation on predict's masks"
check "$WORK/pp.json" "$WORK/pred_pp" "the same with --postprocess: eval and predict apply it alike"
if out=$($PY - "$WORK/pp.json" "$R/temperature.json" "$WORK/hand.json" "$WORK/pred" "$WORK/pred_pp" <<'PY'
import json, os, sys
import numpy as np
from PIL import Image
ev, t, pp = (json.load(open(p)) for p in sys.argv[1:4])
changed = 0
for f in os.listdir(sys.argv[4]):
    a, b = (np.array(Image.open(os.path.join(d, f))) for d in sys.argv[4:6])
    assert ((a == b) | (b == 0)).all(), f  # removed pixels become class 0, nothing else changes
    changed += (a != b).sum()
assert changed > 0, "post-processing changed no pixel"
cal = ev["calibration"]
assert cal["temperature"] == t["temperature"], (cal["temperature"], t["temperature"])
assert len(cal["reliability"]) == 15 and 0 <= cal["ece"] <= 1, cal
assert ev["postprocessing"]["keep_largest"] == pp["keep_largest"]
print("T %.4f, ECE %.5f, %d pixels post-processed to class 0" % (t["temperature"], cal["ece"], changed))
PY
); then ok "eval applies the temperature file and reports the post-processing: $out"; else fail "temperature: $out"; fi
finish
