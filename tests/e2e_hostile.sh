#!/usr/bin/env bash
# e2e_hostile.sh — hostile and clumsy inputs (issue 24), in the manner of
# SQLite's list of what is guarded: one function probe_NAME per probe, each
# a named check that failed before its guard was built.  tests/README.md
# ("Hostile inputs: what is guarded") has the table.  To add a probe: write
# probe_NAME below (it may use $G, $D, $RUN and the helpers), put NAME in
# PROBES at the end and a row in the table.  HOSTILE_PROBES="A B" runs only
# those; under valgrind MEMCHECK_PROBES run.
. "$(dirname "$0")/e2e_lib.sh"
SMALL=(-D BASE=4 -D SIZE=16 -D DEPTH=2 -D BATCH=2 -D CLASSES=4 -D TAU=0)
M=$SOURCE_ROOT/models/unet.net
LIMIT=20 # seconds before a probe that could hang counts as hung

# the shared fixtures: a small graph, a dataset, a trained run (with
# validation, so that it has metrics.jsonl and a best checkpoint)
G=$WORK/s.netg
D=$WORK/data
RUN=$WORK/run
"$NETC" "$M" "${SMALL[@]}" -o "$G" || fail "fixture: netc"
"$GEN_DATA" --out "$D" --count 4 --size 16 --classes 4 --seed 3 >/dev/null || fail "fixture: gen_data"
"$NETRUN" train "$G" --data "$D" --val "$D" --steps 2 --out "$RUN" --quiet || fail "fixture: train"

# within LIMIT seconds (SIGTERM, then SIGKILL): STATUS "TEXT" name -- command
expect_soon() {
    local want=$1 text=$2 name=$3
    shift 4
    expect "$want" "$text" "$name" -- timeout -k 3 "$LIMIT" "$@"
}

# ---- writes that follow the attacker ----------------------------------------

probe_write_source_as_output() {
    cp "$M" "$WORK/m.net"
    cp -r "$SOURCE_ROOT/models/lib" "$WORK/lib"
    ln -f "$WORK/m.net" "$WORK/hard.net"
    expect 1 "m.net: cannot write: an input of this command" "netc M.net -o M.net is refused" -- \
        "$NETC" "$WORK/m.net" "${SMALL[@]}" -o "$WORK/m.net"
    expect 1 "an input of this command" "netc M.net -o ./M.net (another spelling) is refused" -- \
        bash -c 'cd "$1" && shift && exec "$@"' _ "$WORK" "$NETC" m.net "${SMALL[@]}" -o ./m.net
    expect 1 "hard.net: cannot write: an input of this command" "netc -o a hard link of the source is refused" -- \
        "$NETC" "$WORK/m.net" "${SMALL[@]}" -o "$WORK/hard.net"
    cmp -s "$M" "$WORK/m.net" && ok "the model source is intact" || fail "the model source was overwritten"
}

probe_write_symlink_output() {
    echo decoy > "$WORK/decoy"
    ln -s "$WORK/decoy" "$WORK/link.netg"
    expect 1 "link.netg: cannot write: a symbolic link, not a regular file" "netc -o a symbolic link is refused" -- \
        "$NETC" "$M" "${SMALL[@]}" -o "$WORK/link.netg"
    [ "$(cat "$WORK/decoy")" = decoy ] && [ -L "$WORK/link.netg" ] && ok "the link and its target are intact" ||
        fail "the symbolic link or its target was replaced"
}

# the temporary's name older versions used (PATH.tmp.PID), planted as a link
# by someone who guesses the PID (exec keeps it)
probe_write_planted_temporary() {
    echo decoy > "$WORK/decoy2"
    local out
    out=$(bash -c 'ln -s "$1" "$2.tmp.$$" && exec "$3" "$4" "${@:5}" -o "$2"' _ "$WORK/decoy2" "$WORK/planted.netg" \
          "$NETC" "$M" "${SMALL[@]}" 2>&1) || fail "netc with a planted temporary: $out"
    [ "$(cat "$WORK/decoy2")" = decoy ] && "$NETRUN" info "$WORK/planted.netg" >/dev/null &&
        ok "a link planted at the temporary's name is not followed" ||
        fail "the planted link was followed: $(head -c 40 "$WORK/decoy2" | tr -dc '[:print:]')"
}

probe_write_fifo_output() {
    mkfifo "$WORK/out.fifo"
    expect_soon 1 "out.fifo: cannot write: a FIFO, not a regular file; not replacing it" "netc -o a FIFO is refused" -- \
        "$NETC" "$M" "${SMALL[@]}" -o "$WORK/out.fifo"
    [ -p "$WORK/out.fifo" ] && ok "the FIFO is still there" || fail "the FIFO was replaced"
}

probe_append_symlink_log() {
    local R=$WORK/logrun
    cp -r "$RUN" "$R"
    printf 'decoy\n' > "$WORK/decoy3"
    rm "$R/metrics.jsonl"
    ln -s "$WORK/decoy3" "$R/metrics.jsonl"
    expect 1 "metrics.jsonl: cannot write: a symbolic link" "train --resume does not append through a planted link" -- \
        "$NETRUN" train "$G" --data "$D" --val "$D" --steps 3 --out "$R" --resume "$R/last.safetensors" --quiet
    [ "$(cat "$WORK/decoy3")" = decoy ] && ok "the link's target is intact" || fail "metrics appended to the link's target"
}

# ---- outputs that destroy inputs ----------------------------------------------

probe_predict_into_masks() {
    md5sum "$D"/masks/* > "$WORK/masks.md5"
    expect 1 "inside the dataset's folder $D/masks" "predict --output DATA/masks is refused" -- \
        "$NETRUN" predict "$G" --weights "$RUN/last.safetensors" --input "$D" --output "$D/masks" --quiet
    md5sum -c --quiet "$WORK/masks.md5" && ok "the ground truth is intact" || fail "the ground truth was overwritten"
}

probe_predict_into_images_by_link() {
    ln -s "$D/images" "$WORK/imglink"
    expect 1 "inside the dataset's folder $D/images" "predict --output inside the images (through a link) is refused" -- \
        "$NETRUN" predict "$G" --weights "$RUN/last.safetensors" --input "$D" --output "$WORK/imglink/pred" --quiet
    [ ! -e "$D/images/pred" ] && ok "nothing written among the images" || fail "predicted into the images folder"
}

probe_predict_beside_input_image() {
    expect 1 "inside the dataset's folder $D/images" "predict --output the input image's folder is refused" -- \
        "$NETRUN" predict "$G" --weights "$RUN/last.safetensors" --input "$D/images/img_0000.png" \
        --output "$D/images" --quiet
}

# ---- runs that collide ----------------------------------------------------------

probe_train_concurrent() {
    local R=$WORK/busy pid second status=0
    "$NETRUN" train "$G" --data "$D" --steps 100000000 --out "$R" --threads 1 --quiet 2>/dev/null &
    pid=$!
    for _ in $(seq 1 $((LIMIT * 10))); do
        [ -s "$R/.netrun.lock" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    expect 1 "$R: in use by another netrun train (PID $pid)" "a second train on a busy --out fails at once" -- \
        "$NETRUN" train "$G" --data "$D" --steps 1 --out "$R" --resume "$R/last.safetensors"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # the kernel dropped the killed run's lock: the folder can be taken again
    expect 0 "" "a killed run's lock is released" -- "$NETRUN" train "$G" --data "$D" --steps 1 --out "$R" --overwrite --quiet
}

probe_train_over_earlier_run() {
    cp "$RUN/last.safetensors" "$WORK/last.before"
    expect 1 "$RUN: holds an earlier run" "a fresh train into a run folder is refused" -- \
        "$NETRUN" train "$G" --data "$D" --steps 1 --out "$RUN" --quiet
    cmp -s "$RUN/last.safetensors" "$WORK/last.before" && ok "the earlier run's checkpoint is intact" ||
        fail "the earlier run's checkpoint was replaced"
    local R=$WORK/again
    cp -r "$RUN" "$R"
    expect 0 "" "train --overwrite replaces the earlier run" -- "$NETRUN" train "$G" --data "$D" --steps 1 --out "$R" --quiet --overwrite
    [ ! -e "$R/metrics.jsonl" ] && [ "$(grep -c . "$R/log.csv")" = 2 ] && ok "--overwrite left none of the earlier run's files" ||
        fail "--overwrite kept the earlier run's files: $(ls "$R")"
}

# ---- inputs that are not files ------------------------------------------------------

probe_input_fifo_source() {
    mkfifo "$WORK/model.fifo"
    expect_soon 1 "a FIFO, not a regular file" "netc on a FIFO fails at once" -- "$NETC" "$WORK/model.fifo"
    expect_soon 1 "a device, not a regular file" "netc on /dev/zero fails at once" -- "$NETC" /dev/zero
}

probe_input_fifo_import() {
    mkfifo "$WORK/lib.fifo"
    printf 'import "lib.fifo"\n' > "$WORK/imports.net"
    expect_soon 1 "cannot import 'lib.fifo': a FIFO, not a regular file" "an import of a FIFO fails at once" -- \
        "$NETC" "$WORK/imports.net"
}

probe_input_device_graph() {
    expect_soon 1 "/dev/zero: cannot open: a device, not a regular file" "netrun on /dev/zero as graph fails at once" -- \
        "$NETRUN" info /dev/zero
    mkfifo "$WORK/graph.fifo"
    expect_soon 1 "graph.fifo: cannot open: a FIFO" "netrun on a FIFO as graph fails at once" -- "$NETRUN" info "$WORK/graph.fifo"
}

probe_input_fifo_checkpoint() {
    mkfifo "$WORK/ckpt.fifo"
    expect_soon 1 "ckpt.fifo: a FIFO, not a regular file" "a FIFO as checkpoint fails at once" -- \
        "$NETRUN" predict "$G" --weights "$WORK/ckpt.fifo" --input "$D" --output "$WORK/p1" --quiet
}

# train waited in the open of a FIFO given as --init, where SIGTERM was noted
# for the training loop and the open restarted: it hung until killed
probe_input_fifo_init_sigterm() {
    mkfifo "$WORK/init.fifo"
    expect_soon 1 "init.fifo: a FIFO, not a regular file" "train --init FIFO fails at once (no wait past SIGTERM)" -- \
        "$NETRUN" train "$G" --data "$D" --steps 1 --out "$WORK/r-init" --init "$WORK/init.fifo" --quiet
}

probe_input_fifo_list() {
    mkfifo "$WORK/fifo.txt"
    expect_soon 1 "fifo.txt: a FIFO, not a regular file" "train on a FIFO list file says so" -- \
        "$NETRUN" train "$G" --data "$WORK/fifo.txt" --steps 1 --out "$WORK/r-list" --quiet
}

probe_list_names_folder() {
    mkdir -p "$WORK/lists"
    printf 'images/img_0000.png masks/img_0000.png\n%s %s\n' "$D/images" "$D/masks/img_0001.png" > "$D/folder.txt"
    expect 1 "$D/images: a folder, not a regular file (listed at $D/folder.txt:2)" \
        "a list file naming a folder says so" -- "$NETRUN" train "$G" --data "$D/folder.txt" --steps 1 --out "$WORK/r-lf" --quiet
    mkfifo "$WORK/lists/m.png"
    printf 'images/img_0000.png %s\n' "$WORK/lists/m.png" > "$D/fifo-mask.txt"
    expect_soon 1 "m.png: a FIFO, not a regular file (the mask of images/img_0000.png" \
        "a list file naming a FIFO says so" -- "$NETRUN" train "$G" --data "$D/fifo-mask.txt" --steps 1 --out "$WORK/r-lm" --quiet
}

probe_list_bom() {
    printf '\xef\xbb\xbfimages/img_0000.png masks/img_0000.png\nimages/img_0001.png masks/img_0001.png\n' > "$D/bom.txt"
    expect 0 "" "a list file that starts with a UTF-8 BOM is read" -- \
        "$NETRUN" train "$G" --data "$D/bom.txt" --steps 1 --out "$WORK/r-bom" --quiet
}

# ---- the report trusts its run folder -----------------------------------------------

# tampered FILE SED NAME -- TEXT...: a copy of the run with FILE edited by
# SED; its report must hold none of TEXT.  run.json names no graph, so the
# page is made from the files alone, as train makes it after every epoch.
tampered() {
    local file=$1 edit=$2 name=$3 R=$WORK/tampered-$1
    shift 4
    cp -r "$RUN" "$R"
    sed -i 's|"graph":"[^"]*"|"graph":null|' "$R/run.json"
    sed -i "$edit" "$R/$file"
    expect 0 "" "report of a tampered $file" -- "$NETRUN" report "$R" --quiet
    local pats=()
    for t in "$@"; do pats+=(-e "$t"); done
    ! grep -qF "${pats[@]}" "$R/report.html" && ok "$name" ||
        fail "$name: $(grep -oF "${pats[@]}" "$R/report.html" | head -1) reached the page"
}

probe_report_html_in_run_json() {
    tampered run.json 's|"best_metric":"[^"]*"|"best_metric":"<img src=x onerror=alert(1)>"|;
                       s|"source":"[^"]*"|"source":"</code><script>alert(3)</script>"|' \
        "run.json's strings are escaped in the page" -- '<img src=x' '<script>alert(3)'
}

probe_report_script_in_metrics() {
    tampered metrics.jsonl 's|"validation":{|"validation":{"x":"</script><script>alert(2)</script><!--",|' \
        "metrics.jsonl cannot end the page's <script>" -- '<script>alert(2)' '<!--'
}

# the page's JSON block and run.json parse as UTF-8 JSON
json_ok() {
    /usr/bin/python3 - "$@" <<'PY'
import json, re, sys
text = open(sys.argv[1], 'rb').read().decode('utf-8')  # strict: a byte that is not UTF-8 fails
if sys.argv[2] == 'page':
    text = re.search(r'<script type="application/json" id="netrun-report">(.*?)</script>', text, re.S).group(1)
json.loads(text)
PY
}

probe_report_non_utf8_names() {
    local V=$WORK/$'val\xff' R=$WORK/r-utf
    cp -r "$D" "$V"
    mv "$V/images/img_0002.png" "$V/images/"$'img\xfe.png'
    mv "$V/masks/img_0002.png" "$V/masks/"$'img\xfe.png'
    expect 0 "" "train with names that are not UTF-8" -- "$NETRUN" train "$G" --data "$V" --val "$V" --steps 1 --out "$R" --quiet
    json_ok "$R/run.json" file && ok "run.json is valid UTF-8 JSON" || fail "run.json is not valid UTF-8 JSON"
    expect 0 "" "report with names that are not UTF-8" -- "$NETRUN" report "$R" --graph "$G" --data "$V" --quiet
    json_ok "$R/report.html" page && ok "the report's JSON is valid UTF-8 JSON" || fail "the report's JSON is invalid"
}

probe_report_gallery_bounded() {
    local size=512 V=$WORK/big R=$WORK/r-big G64=$WORK/s64.netg bytes
    [ "$QUICK" = 1 ] && size=256
    "$GEN_DATA" --out "$V" --count 1 --size "$size" --classes 4 --seed 5 >/dev/null
    "$NETC" "$M" -D BASE=4 -D SIZE=64 -D DEPTH=2 -D BATCH=1 -D CLASSES=4 -D TAU=0 -o "$G64"
    "$NETRUN" train "$G64" --data "$V" --steps 1 --out "$R" --quiet || fail "train on a ${size}x$size image"
    expect 0 "" "report of a ${size}x$size validation image" -- "$NETRUN" report "$R" --graph "$G64" --data "$V" --quiet
    bytes=$(stat -c %s "$R/report.html")
    [ "$bytes" -lt 1500000 ] && ok "the page stays small ($bytes bytes)" || fail "the page is $bytes bytes"
    grep -qE '<img width="([1-9][0-9]?|[1-4][0-9][0-9]|50[0-9]|51[0-2])" height' "$R/report.html" &&
        ok "the overlay is at most 512 px wide" ||
        fail "the overlay is larger: $(grep -oE '<img width="[0-9]+" height="[0-9]+"' "$R/report.html" | head -1)"
}

PROBES=(write_source_as_output write_symlink_output write_planted_temporary write_fifo_output append_symlink_log
        predict_into_masks predict_into_images_by_link predict_beside_input_image
        train_concurrent train_over_earlier_run
        input_fifo_source input_fifo_import input_device_graph input_fifo_checkpoint input_fifo_init_sigterm
        input_fifo_list list_names_folder list_bom
        report_html_in_run_json report_script_in_metrics report_non_utf8_names report_gallery_bounded)
# Under valgrind (each tool call ~1 s of CPU), the probes that reach C code
# which unit io (test_hostile_files, also under valgrind) does not: the run
# folder, the output check, list files, the report's escapes.
MEMCHECK_PROBES=(predict_into_masks train_over_earlier_run list_bom report_script_in_metrics report_non_utf8_names)
run=("${PROBES[@]}")
[ -n "${E2E_VALGRIND:-}" ] && run=("${MEMCHECK_PROBES[@]}") &&
    echo "# under valgrind: ${#MEMCHECK_PROBES[@]} of ${#PROBES[@]} probes (MEMCHECK_PROBES)"
for p in ${HOSTILE_PROBES:-${run[@]}}; do
    echo "# probe $p"
    "probe_$p"
done
finish
