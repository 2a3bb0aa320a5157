#!/usr/bin/env bash
# e2e_report.sh — the report of a short real training run: train writes
# report.html (and run.json), its embedded figures equal `netrun eval
# --json`'s for best.safetensors, the page is self-contained, netrun report
# rebuilds it with --data (and then shows the per-class HD95/NSD, the per-image
# Dice, the reliability diagram and the post-processing and temperature eval
# chose), predict --overlay writes overlays of the right size
# whose image panel is the input, netc --emit svg draws through Graphviz; then
# headless Chromium renders the page without console errors and the
# screenshot is not blank.  Without chromium the rest still runs and the test
# ends as skipped (77) when it passed.
. "$(dirname "$0")/e2e_lib.sh"
PY=/usr/bin/python3
M=$SOURCE_ROOT/models/unet.net
D=$WORK/train V=$WORK/val R=$WORK/run
EPOCHS=4
[ "$QUICK" = 1 ] && EPOCHS=2
"$GEN_DATA" --out "$D" --count 16 --size 32 --classes 5 --seed 1 >/dev/null
"$GEN_DATA" --out "$V" --count 8 --size 32 --classes 5 --seed 2 >/dev/null
"$NETC" "$M" -D BASE=4 -D SIZE=32 -D DEPTH=2 -D BATCH=4 -D CLASSES=5 -D LR=3e-3 -D TAU=0 -D WEIGHTS=balanced -o "$WORK/u.netg" || fail "compile"

expect 0 "report: $R/report.html" "train writes the report at the end" -- \
    "$NETRUN" train "$WORK/u.netg" --data "$D" --val "$V" --epochs "$EPOCHS" --seed 3 --out "$R"
[ -s "$R/run.json" ] && ok "train writes run.json" || fail "no run.json"
"$NETRUN" eval "$WORK/u.netg" --weights "$R/best.safetensors" --data "$V" --json > "$WORK/eval.json" || fail "eval --json"

if ! $PY -c "import PIL" 2>/dev/null; then
    echo "# skip: the page checks need /usr/bin/python3 with PIL"
    finish
    exit $?
fi

# check_page HTML EVAL_JSON NAME: the page's embedded figures against eval --json,
# log.csv and metrics.jsonl; no external resource, no script that runs; the
# gallery's PNGs have the four-panel size of the 32x32 images
check_page() {
    if out=$($PY - "$1" "$2" "$R" <<'PY'
import base64, io, json, re, sys
from PIL import Image
html = open(sys.argv[1]).read()
ev = json.load(open(sys.argv[2]))
run = sys.argv[3]
m = re.search(r'<script type="application/json" id="netrun-report">(.*?)</script>', html, re.S)
assert m, "no netrun-report block"
rep = json.loads(m.group(1))
best = rep["best"]
assert best is not None, "no best figures"
# train's page shows the pooled figures of metrics.jsonl, netrun report's all of eval --json's
want = set(ev) if "per_image" in best else {k for k in ev if k in best}
assert set(best) == want and "iou" in best, "keys differ: %s vs %s" % (sorted(best), sorted(want))
for k in best:
    assert best[k] == ev[k], "%s: report %r, eval %r" % (k, best[k], ev[k])
# the curves are log.csv's rows
rows = [l.split(",") for l in open(run + "/log.csv").read().split("\n")[1:] if l]
assert len(rep["epochs"]) == len(rows), "epochs %d, log rows %d" % (len(rep["epochs"]), len(rows))
for e, r in zip(rep["epochs"], rows):
    assert e["epoch"] == int(r[0]) and e["step"] == int(r[1]), (e, r)
    for key, col in (("train_loss", 2), ("val_loss", 3), ("pixel_accuracy", 4), ("miou_foreground", 5),
                     ("worst_iou_foreground", 6)):
        assert abs(e[key] - float(r[col])) <= 5e-7, (key, e[key], r[col])
# metrics.jsonl lines are JSON; the best epoch is the last one flagged
lines = [json.loads(l) for l in open(run + "/metrics.jsonl")]
flagged = [l["epoch"] for l in lines if l["best"]]
assert flagged and rep["best_epoch"] == flagged[-1], (flagged, rep["best_epoch"])
# self-contained, nothing runs
for bad in (r'<script(?! type="application/json")', r'\s(src|href)="(?!data:|#)', r'<link', r'@import', r'url\(',
            r'\son[a-z]+='):
    assert not re.search(bad, html), "the page has %s" % bad
# the gallery
imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
assert len(imgs) == len(rep["gallery"]) and 1 <= len(imgs) <= 8, (len(imgs), len(rep["gallery"]))
for b in imgs:
    im = Image.open(io.BytesIO(base64.b64decode(b)))
    assert im.size == (4 * 32 + 3 * 2, 32), im.size
sides = [g["side"] for g in rep["gallery"]]
assert sides[0] == "best" and sides == sorted(sides), sides
scores = [g["miou_foreground"] for g in rep["gallery"] if g["side"] == "best"]
assert scores == sorted(scores, reverse=True), scores
for needle in ("Loss (epoch means)", "IoU per class", "Per image and boundaries", "Confusion matrix", "Class weights",
               "Collapse warnings", "Validation images"):
    assert needle in html, needle
print("best epoch %d, %d overlays, fg mIoU %s" % (rep["best_epoch"], len(imgs), best["miou_foreground"]))
PY
    ); then ok "$3: $out"; else fail "$3: $out"; fi
}
check_page "$R/report.html" "$WORK/eval.json" "train's report: figures equal eval --json's, self-contained, gallery"

# the post-processing and temperature eval chooses for the run, which the page shows (under QUICK
# e2e_metrics.sh runs the choice; here the page says there is none)
if [ "$QUICK" != 1 ]; then
    "$NETRUN" eval "$WORK/u.netg" --weights "$R/best.safetensors" --data "$V" --choose-postprocessing \
        --fit-temperature >/dev/null || fail "eval --choose-postprocessing --fit-temperature"
fi
expect 0 "$WORK/again.html" "netrun report --data -o" -- \
    "$NETRUN" report "$R" --data "$V" -o "$WORK/again.html"
check_page "$WORK/again.html" "$WORK/eval.json" "netrun report --data: best.safetensors evaluated now"
grep -q 'evaluated on <code>' "$WORK/again.html" && ok "the page says where it evaluated" || fail "no 'evaluated on'"
# the per-image figures: the class table, the strip of per-image Dice, the reliability diagram, the choices
n_dots=$(grep -c '<circle class="img"' "$WORK/again.html")
if [ "$QUICK" = 1 ]; then choices='writes them into the run folder'; else choices='Temperature [0-9.]*: NLL'; fi
if grep -q '<table class="boundary">' "$WORK/again.html" && grep -q '<title>Reliability diagram</title>' "$WORK/again.html" &&
    grep -q '<title>Foreground Dice per image</title>' "$WORK/again.html" && grep -q "$choices" "$WORK/again.html" &&
    { [ "$QUICK" = 1 ] || grep -q 'Keep only the largest component' "$WORK/again.html"; } && [ "$n_dots" -ge 1 ]; then
    ok "the page shows HD95/NSD per class, $n_dots images' Dice, the reliability diagram and the choices"
else
    fail "the per-image sections are missing from the page ($n_dots dots)"
fi
expect 0 "$R/report.html" "netrun report with run.json's graph and val" -- "$NETRUN" report "$R"
expect 1 "not a folder" "report of a missing folder is an error" -- "$NETRUN" report "$WORK/nowhere"
# a run.json whose graph no longer fits the checkpoint: the page of the files, and why not more
"$NETC" "$M" -D BASE=4 -D SIZE=32 -D DEPTH=2 -D BATCH=4 -D CLASSES=3 -o "$WORK/other.netg"
cp -r "$R" "$WORK/moved"
sed -i "s|$WORK/u.netg|$WORK/other.netg|" "$WORK/moved/run.json"
expect 0 "no gallery: " "report falls back to the files when run.json's graph does not fit" -- "$NETRUN" report "$WORK/moved"
grep -q 'data:image' "$WORK/moved/report.html" && fail "the fallback page has overlays" ||
    ok "the fallback page has no overlays"
mkdir -p "$WORK/bare"
expect 1 "log.csv" "report of a folder without log.csv names it" -- "$NETRUN" report "$WORK/bare"
expect 2 "--data needs the model" "report --data without a graph" -- "$NETRUN" report "$WORK/bare" --data "$V"

# during training: the live page from the files (reloads itself, no overlays yet)
"$NETRUN" train "$WORK/u.netg" --data "$D" --val "$V" --epochs 100000 --seed 3 --out "$WORK/live" --quiet \
    2>"$WORK/live.err" &
pid=$!
for _ in $(seq 3000); do # up to 5 minutes: two epochs under valgrind, beside other tests
    [ "$(grep -c . "$WORK/live/log.csv" 2>/dev/null || echo 0)" -ge 3 ] && [ -s "$WORK/live/report.html" ] && break
    sleep 0.1
done
cp "$WORK/live/report.html" "$WORK/live.html" 2>/dev/null
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
grep -q 'http-equiv="refresh"' "$WORK/live.html" && grep -q 'appear when the run ends' "$WORK/live.html" &&
    grep -q '"best":{' "$WORK/live.html" && ok "during training the page reloads itself and has the figures" ||
    fail "live report: $(head -c 300 "$WORK/live.html" 2>/dev/null)"
grep -q 'http-equiv="refresh"' "$R/report.html" && fail "the final report reloads itself" ||
    ok "the final report does not reload itself"

# predict --overlay: four panels with masks, one without; panel 1 is the input image
expect 0 "" "predict --overlay on a dataset with masks" -- \
    "$NETRUN" predict "$WORK/u.netg" --weights "$R/best.safetensors" --input "$V" --output "$WORK/p4" --overlay --quiet
expect 0 "" "predict --overlay on images only" -- \
    "$NETRUN" predict "$WORK/u.netg" --weights "$R/best.safetensors" --input "$V/images" --output "$WORK/p1" --overlay --quiet
if out=$($PY - "$V" "$WORK/p4" "$WORK/p1" <<'PY'
import os, sys
from PIL import Image
val, p4, p1 = sys.argv[1:]
names = sorted(os.listdir(val + "/images"))
assert sorted(os.listdir(p4 + "/overlays")) == names and sorted(os.listdir(p1 + "/overlays")) == names
for n in names:
    src = Image.open(val + "/images/" + n).convert("L")
    four = Image.open(p4 + "/overlays/" + n)
    one = Image.open(p1 + "/overlays/" + n)
    assert four.mode == "RGB" and four.size == (4 * 32 + 6, 32), (n, four.mode, four.size)
    assert one.size == (32, 32), (n, one.size)
    mask = Image.open(p1 + "/" + n)
    for y in range(32):
        for x in range(32):
            g = src.getpixel((x, y))
            assert four.getpixel((x, y)) == (g, g, g), (n, x, y, four.getpixel((x, y)), g)
            if mask.getpixel((x, y)) == 0:  # background keeps the image
                assert one.getpixel((x, y)) == (g, g, g), (n, x, y)
print("%d images" % len(names))
PY
); then ok "overlay sizes, and the image panel is the input: $out"; else fail "overlays: $out"; fi

# netc --emit svg through Graphviz
if command -v dot >/dev/null 2>&1; then
    "$NETC" "$M" -D BASE=4 -D SIZE=32 -D DEPTH=2 -D CLASSES=5 --emit svg --entry infer > "$WORK/u.svg" &&
        grep -q '<svg' "$WORK/u.svg" && grep -q 'conv2d' "$WORK/u.svg" && ok "netc --emit svg" ||
        fail "netc --emit svg: $(head -c 200 "$WORK/u.svg")"
else
    echo "# skip: netc --emit svg (no Graphviz dot)"
fi
# a PATH without dot (but with valgrind, which the wrapped netc of a valgrind run needs)
mkdir -p "$WORK/nodot"
VG=$(command -v valgrind || true)
if [ -n "$VG" ]; then # Debian's valgrind is a script that runs valgrind.bin beside it
    for f in "$(dirname "$VG")"/valgrind*; do ln -sf "$f" "$WORK/nodot/"; done
fi
expect 1 "needs Graphviz's 'dot' on PATH" "netc --emit svg without dot is a clear error" -- \
    env PATH="$WORK/nodot" "$NETC" "$M" --emit svg
expect 1 "has no entry 'nope'" "netc --entry names the entries" -- "$NETC" "$M" --emit dot --entry nope

# the page in a browser
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    echo "# skip: the page in a browser: chromium is not installed (tests/deps.sh installs it: apt-get install chromium)"
    finish || exit 1
    exit 77
fi
shot() { # shot HTML PNG: screenshot, console messages in PNG.log
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --user-data-dir="$WORK/chrome" --enable-logging=stderr --v=0 --window-size=1280,2600 \
        --screenshot="$2" "file://$1" > "$2.log" 2>&1
}
shot "$R/report.html" "$WORK/shot.png" || fail "chromium: $(tail -3 "$WORK/shot.png.log")"
if grep -E 'CONSOLE|Uncaught|Failed to load|ERR_FILE_NOT_FOUND|net::ERR' "$WORK/shot.png.log" >/dev/null; then
    fail "the page logged errors: $(grep -E 'CONSOLE|Uncaught|Failed to load|net::ERR' "$WORK/shot.png.log" | head -3)"
else
    ok "chromium loads the page without console or load errors"
fi
shot "$WORK/again.html" "$WORK/pp.png" || fail "chromium: $(tail -3 "$WORK/pp.png.log")"
if [ -s "$WORK/pp.png" ] && ! grep -E 'CONSOLE|Uncaught|Failed to load|net::ERR' "$WORK/pp.png.log" >/dev/null; then
    ok "chromium loads the page with the per-image sections without errors"
else
    fail "the per-image page in chromium: $(grep -E 'CONSOLE|Uncaught|Failed to load|net::ERR' "$WORK/pp.png.log" | head -3)"
fi
if out=$($PY - "$WORK/shot.png" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
w, h = im.size
px = im.getdata()
colours = len(set(px))
ink = sum(1 for p in px if p != (255, 255, 255)) / (w * h)
# the charts are drawn: the blue of the fg mIoU line and of the bars shows
blue = sum(1 for p in px if p == (59, 117, 175))
assert (w, h) == (1280, 2600), (w, h)
assert colours >= 200, "only %d colours" % colours
assert ink >= 0.05, "only %.3f of the pixels are not white" % ink
assert blue >= 200, "only %d pixels of the chart blue" % blue
print("%dx%d, %d colours, %.1f%% not white" % (w, h, colours, 100 * ink))
PY
); then ok "the screenshot is not blank: $out"; else fail "screenshot: $out"; fi
finish
