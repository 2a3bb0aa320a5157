#!/bin/bash
# e2e_plan.sh — netrun plan (issue 23): on quickstart-like data, on larger
# images (crops) and on a VOC-like fixture of colour JPEGs it writes a model
# file that compiles from where it is written and trains, and the training's
# measured peak RSS (/usr/bin/time) stays within --memory; a tighter budget
# picks a smaller configuration; --json carries the fingerprint and the
# explanation; --model; bad input (a budget too small, an empty, a
# background-only or an unreadable dataset, a model without the consts, bad
# options) is a clear error and writes nothing.  Needs DATA_FIXTURE.
REAL_NETC=$NETC # netrun plan runs netc itself: unwrapped under valgrind (netrun is)
. "$(dirname "$0")/e2e_lib.sh"
FIX=$DATA_FIXTURE

# QUICK: small data and budgets (BASE 8); under valgrind also only the
# quickstart-like plan and the errors (the other plans run the same code)
if [ "$QUICK" = 1 ]; then N=8 S=32 K=4 MEM=45M; else N=12 S=64 K=32 MEM=150M; fi
VG=${E2E_VALGRIND:+1}
"$GEN_DATA" --out "$WORK/qs" --count $N --size $S --classes $K --seed 1 > /dev/null || { echo "FAIL - gen_data"; exit 1; }
mkdir -p "$WORK/out" "$WORK/run"

# plan NAME DATA MEMORY [options...]: netrun plan into $WORK/out/NAME.net, --json into NAME.json
plan() {
    local name=$1 data=$2 mem=$3
    shift 3
    NETC=$REAL_NETC "$NETRUN" plan "$data" --memory "$mem" --time 30s -o "$WORK/out/$name.net" --json "$@" \
        > "$WORK/$name.json" 2> "$WORK/$name.err"
}
# conf NAME KEY: a config value of NAME.json
conf() { grep -o "\"$2\": [a-z0-9]*" "$WORK/$1.json" | head -1 | cut -d' ' -f2; }

# train_fits NAME DATA MEMORY: the planned file compiles from another folder,
# trains 2 steps with validation (valgrind: 1 without), and the peak RSS is
# within the plan's total and MEMORY (bytes)
train_fits() {
    local name=$1 data=$2 mem=$3
    (cd "$WORK/run" && "$NETC" "$WORK/out/$name.net" -o "$WORK/run/$name.netg") \
        || { fail "$name: the planned file does not compile"; return; }
    ok "$name: the planned file compiles from another folder"
    local time=(/usr/bin/time -f %M -o "$WORK/$name.rss")
    if [ ! -x /usr/bin/time ] || [ "$QUICK" = 1 ] || grep -q -m1 AddressSanitizer "$NETRUN"; then
        time=() # no /usr/bin/time; under valgrind or ASan the RSS is theirs
    fi
    local val=(--val "$data")
    [ -z "$VG" ] || val=() # valgrind: one step, no validation
    "${time[@]}" "$NETRUN" train "$WORK/run/$name.netg" --data "$data" "${val[@]}" --steps $((VG ? 1 : 2)) \
        --out "$WORK/run/$name" --quiet || { fail "$name: training the planned model"; return; }
    ok "$name: the planned model trains"
    if [ ${#time[@]} = 0 ]; then
        echo "# skip: $name: peak RSS (no /usr/bin/time, QUICK, or a sanitizer)"
    elif [ $(( $(cat "$WORK/$name.rss") * 1024 )) -le "$(grep -o '"total": [0-9]*' "$WORK/$name.json" | cut -d' ' -f2)" ] \
         && [ "$(grep -o '"total": [0-9]*' "$WORK/$name.json" | cut -d' ' -f2)" -le "$mem" ]; then
        ok "$name: peak RSS $(cat "$WORK/$name.rss") KiB <= the plan's total <= --memory $mem bytes"
    else
        fail "$name: peak RSS $(cat "$WORK/$name.rss") KiB, the plan's $(grep -o '"total": [0-9]*' "$WORK/$name.json"), --memory $mem"
    fi
}

# --- quickstart-like data: the whole image, and a tighter budget ---
if plan qs "$WORK/qs" $MEM; then ok "plan: quickstart-like data"; else fail "plan qs: $(cat "$WORK/qs.err")"; fi
[ "$(conf qs SIZE)" = $S ] && [ "$(conf qs crops)" = false ] && [ "$(conf qs CLASSES)" = $K ] \
    && ok "qs: SIZE $S (the whole image), no crops, CLASSES $K" \
    || fail "qs: $(grep -o '"config": {[^}]*}' "$WORK/qs.json")"
grep -q '"per_class": \[{"class": 0' "$WORK/qs.json" && grep -q '"explanation": \["Data: ' "$WORK/qs.json" \
    && grep -q '"objects": [1-9]' "$WORK/qs.json" \
    && ok "qs: --json has the fingerprint (objects per class) and the explanation" \
    || fail "qs: --json lacks the fingerprint or the explanation"
grep -q "^# SIZE = $S: " "$WORK/out/qs.net" && grep -q "^const SIZE = $S  # netrun plan" "$WORK/out/qs.net" \
    && ok "qs: the file explains SIZE in a comment and sets it" || fail "qs: no SIZE explanation or const"
train_fits qs "$WORK/qs" $(( ${MEM%M} << 20 ))
# a budget just above the first one's total: at most the same BASE and BATCH, and it fits
if [ "$QUICK" = 1 ]; then
    echo "# skip: the tighter budget (QUICK)"
else
total=$(grep -o '"total": [0-9]*' "$WORK/qs.json" | cut -d' ' -f2)
tight=$(( total - 1 ))
if plan tight "$WORK/qs" "$tight"; then
    [ "$(conf tight BASE)" -lt "$(conf qs BASE)" ] || [ "$(conf tight SIZE)" -lt "$(conf qs SIZE)" ] \
        || [ "$(conf tight BATCH)" -lt "$(conf qs BATCH)" ] \
        && ok "tight: one byte less than the plan's total picks a smaller configuration" \
        || fail "tight: the same configuration under $tight bytes"
    train_fits tight "$WORK/qs" "$tight"
else
    fail "plan tight: $(cat "$WORK/tight.err")"
fi

fi

# under valgrind: the same code paths as the plan above, with a test of their own
if [ -n "$VG" ]; then
    echo "# skip: crops, the VOC fixture (valgrind)"
else
# --- larger images than the memory allows whole: crops ---
if [ "$QUICK" = 1 ]; then L=96; else L=192; fi
"$GEN_DATA" --out "$WORK/big" --count 6 --size $L --classes 4 --seed 3 > /dev/null || fail "gen_data big"
# the budget of BASE 8 at L x L with batch 2 is not there: the patch shrinks
if plan big "$WORK/big" 60M; then
    [ "$(conf big crops)" = true ] && [ "$(conf big SIZE)" -lt $L ] \
        && ok "big: crops of SIZE $(conf big SIZE) < $L" || fail "big: $(grep -o '"config": {[^}]*}' "$WORK/big.json")"
    grep -q "^# FOREGROUND: the model's value" "$WORK/out/big.net" && grep -q '^const FOREGROUND = 0.33' "$WORK/out/big.net" \
        && ok "big: crops keep the model's foreground oversampling" || fail "big: FOREGROUND changed"
    train_fits big "$WORK/big" $((60 << 20))
else
    fail "plan big: $(cat "$WORK/big.err")"
fi

# --- a VOC-like fixture: colour JPEGs of odd sizes, the train split ---
"$FIX" make "$WORK/qs" "$WORK/voc" --layout voc --jpeg --rgb --sizes 37x53,64x64,50x41 || fail "fixture voc"
if plan voc "$WORK/voc" 150M; then
    grep -q '"colour": [1-9]' "$WORK/voc.json" && [ "$(conf voc SIZE)" = 64 ] \
        && ok "voc: colour images, SIZE 64 (the median larger side, 53, rounded up to 16)" \
        || fail "voc: $(grep -o '"gray": [0-9]*, "colour": [0-9]*' "$WORK/voc.json") SIZE $(conf voc SIZE)"
    train_fits voc "$WORK/voc" $((150 << 20))
else
    fail "plan voc: $(cat "$WORK/voc.err")"
fi

fi

# --- --model: another model file with the consts, and one without ---
if [ "$QUICK" = 1 ]; then
    echo "# skip: --model (QUICK)"
else
cp "$SOURCE_ROOT/models/unet_nn.net" "$WORK/mine.net"
sed -i "s|^import \"lib/|import \"$SOURCE_ROOT/models/lib/|" "$WORK/mine.net"
sed -i 's/^const LOSS .*/const LOSS = ce/' "$WORK/mine.net"
if plan mine "$WORK/qs" 100M --model "$WORK/mine.net"; then
    grep -q '^const LOSS = ce' "$WORK/out/mine.net" && grep -q "Recipe: $WORK/mine.net's own" "$WORK/out/mine.net" \
        && ok "--model: its recipe kept" || fail "--model: recipe lost"
else
    fail "plan --model: $(cat "$WORK/mine.err")"
fi
fi
grep -v '^const SIZE' "$SOURCE_ROOT/models/unet_nn.net" > "$WORK/nosize.net"

# --- bad input: clear errors, nothing written ---
mkdir -p "$WORK/empty/images" "$WORK/empty/masks"
"$GEN_DATA" --out "$WORK/bg" --count 3 --size 32 --max-objects 0 > /dev/null || fail "gen_data bg"
cp -r "$WORK/qs" "$WORK/broken"
echo "not a png" > "$WORK/broken/masks/img_0002.png"
nothing() { # nothing NAME STATUS TEXT -- command: the error, and no file
    local name=$1 status=$2 text=$3
    shift 4
    expect "$status" "$text" "$name" -- env NETC="$REAL_NETC" "$@"
    [ ! -e "$WORK/out/none.net" ] && ! ls "$WORK/out" | grep -q tmp && ok "$name: nothing written" \
        || fail "$name: wrote $(ls "$WORK/out")"
}
nothing "a budget too small says the smallest that fits" 1 "the smallest (SIZE 16, DEPTH 2, BASE 8, BATCH 1) needs" \
    -- "$NETRUN" plan "$WORK/qs" --memory 20M -o "$WORK/out/none.net"
nothing "an empty dataset" 1 "empty/images: no PNG or JPEG files" -- "$NETRUN" plan "$WORK/empty" -o "$WORK/out/none.net"
nothing "a background-only dataset" 1 "every labelled pixel is class 0 (background only): nothing to segment" \
    -- "$NETRUN" plan "$WORK/bg" -o "$WORK/out/none.net"
nothing "an unreadable mask is named" 1 "broken/masks/img_0002.png" \
    -- "$NETRUN" plan "$WORK/broken" -o "$WORK/out/none.net"
nothing "a missing dataset" 1 "$WORK/none" -- "$NETRUN" plan "$WORK/none" -o "$WORK/out/none.net"
nothing "--model without const SIZE" 1 "nosize.net: no const SIZE" \
    -- "$NETRUN" plan "$WORK/qs" --model "$WORK/nosize.net" -o "$WORK/out/none.net"
nothing "a missing --model" 1 "missing.net: cannot read" \
    -- "$NETRUN" plan "$WORK/qs" --model "$WORK/missing.net" -o "$WORK/out/none.net"
nothing "--memory malformed" 2 "--memory takes a size" -- "$NETRUN" plan "$WORK/qs" --memory 12Q -o "$WORK/out/none.net"
nothing "--time malformed" 2 "--time takes a duration" -- "$NETRUN" plan "$WORK/qs" --time 5y -o "$WORK/out/none.net"
nothing "-o missing" 2 "-o PLANNED.net is required" -- "$NETRUN" plan "$WORK/qs"
nothing "a folder of -o that does not exist" 1 "cannot write" \
    -- "$NETRUN" plan "$WORK/qs" --memory 300M -o "$WORK/out/no/none.net"
finish
