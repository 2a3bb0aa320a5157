#!/usr/bin/env bash
# e2e_sampling.sh — sampling declared in the model file (runtime/data/sampler.c):
# a U-Net of input 32x32 trains on 64x64 images with foreground oversampling
# and repeat factors; the counts netrun prints are those the options ask for
# (the forced slots of every batch, the epoch's length from the factors);
# the class index is cached in the run folder, reused by the next run,
# rebuilt when a mask changes and, with a warning, when the cache is corrupt;
# a run of 5 steps extended by 5 (--resume) ends bit for bit as one of 10;
# on images of the model's size the forced slots' images are drawn by class
# (no crops) and the run trains.
. "$(dirname "$0")/e2e_lib.sh"
D=$WORK/train
"$GEN_DATA" --out "$D" --count 24 --size 64 --classes 6 --max-objects 1 --seed 5 >/dev/null
mkdir -p "$WORK/models"
cp -r "$SOURCE_ROOT/models/lib" "$WORK/models/"
{ cat "$SOURCE_ROOT/models/unet.net"; printf '\noption foreground = 0.5\noption foreground_draw = class\noption repeat = 0.3\n'; } > "$WORK/models/s.net"
EPOCHS=2 BASE=4 AGAIN=(--epochs 1)
# QUICK: a smaller U-Net, one epoch for the counts, one step for the runs that look at the index only
[ "$QUICK" = 1 ] && EPOCHS=1 BASE=2 AGAIN=(--steps 1)
common=(-D BASE=$BASE -D SIZE=32 -D DEPTH=2 -D BATCH=6 -D CLASSES=6 -D LR=3e-3)
"$NETC" "$WORK/models/s.net" "${common[@]}" -o "$WORK/s.netg" || fail "netc s.net"

R=$WORK/run
out=$("$NETRUN" train "$WORK/s.netg" --data "$D" --epochs $EPOCHS --out "$R" --threads 1 2>&1) ||
    fail "train: $(tail -3 <<<"$out")"
grep -q "class statistics: 24 masks indexed" <<<"$out" && [ -s "$R/class_stats.bin" ] &&
    ok "the first run indexes the masks into class_stats.bin" || fail "index: $(head -3 <<<"$out")"
grep -q "the last 3 of every 6 images drawn by class (0.5 of 0.5 asked; [0-9]* foreground classes in 24 images); their crops centred on a pixel of the class" <<<"$out" &&
    ok "foreground = 0.5 with batch 6 forces the last 3 slots, their crops centred" || fail "foreground line: $(grep -i foreground <<<"$out")"
# the epoch's length L from the repeat factors; steps = ceil(L / 6); in
# every step the slots 3..5 present are forced
L=$(sed -n 's/.*an epoch is \([0-9]*\) samples.*/\1/p' <<<"$out")
spe=$(sed -n 's/.* \([0-9]*\) steps per epoch.*/\1/p' <<<"$out")
forced=$(sed -n 's/.*oversampling: [0-9]* images, \([0-9]*\) drawn by class.*/\1/p' <<<"$out")
crops=$(sed -n 's/.*oversampling: \([0-9]*\) images,.*/\1/p' <<<"$out")
want=$(awk -v L="$L" -v e=$EPOCHS 'BEGIN { f = 0; for (p = 0; p < L; p += 6) { c = L - p < 6 ? L - p : 6; f += c > 3 ? c - 3 : 0 } print e * f }')
if [ -n "$L" ] && [ "$L" -gt 24 ] && [ "$spe" = $(((L + 5) / 6)) ] && [ "$crops" = $((EPOCHS * L)) ] && [ "$forced" = "$want" ]; then
    ok "repeat 0.3: an epoch of $L samples in $spe steps; $forced of $crops samples drawn by class, as asked"
else
    fail "counts: L=$L steps/epoch=$spe crops=$crops forced=$forced (want $want); $(grep -E 'repeat|oversampling' <<<"$out")"
fi

# the next run in the same folder (--overwrite: the run's files replaced, the cache kept) reads the cache: no mask read, file untouched
t0=$(stat -c %Y.%y "$R/class_stats.bin")
out=$("$NETRUN" train "$WORK/s.netg" --data "$D" "${AGAIN[@]}" --out "$R" --overwrite --threads 1 2>&1) || fail "train again"
grep -q "class statistics: 24 masks, from $R/class_stats.bin" <<<"$out" && [ "$(stat -c %Y.%y "$R/class_stats.bin")" = "$t0" ] &&
    ok "a repeated run reads class_stats.bin" || fail "cache not used: $(head -2 <<<"$out")"

# a changed mask: indexed again (not a warning)
cp "$D/masks/img_0001.png" "$WORK/saved.png"
cp "$D/masks/img_0002.png" "$D/masks/img_0001.png"
out=$("$NETRUN" train "$WORK/s.netg" --data "$D" "${AGAIN[@]}" --out "$R" --overwrite --threads 1 2>&1) || fail "train after a change"
grep -q "the dataset's files changed; indexing the masks again" <<<"$out" && grep -q "24 masks indexed" <<<"$out" &&
    ! grep -q "warning: $R/class_stats.bin" <<<"$out" && ok "a changed mask rebuilds the index" ||
    fail "after a change: $(head -3 <<<"$out")"
cp "$WORK/saved.png" "$D/masks/img_0001.png"

# corrupt caches: never trusted, rebuilt with a warning, the run goes on
head -c 100 "$R/class_stats.bin" > "$WORK/cut.bin" && cp "$WORK/cut.bin" "$R/class_stats.bin"
expect 0 "class_stats.bin: truncated or extended" "a truncated cache is rebuilt with a warning" -- \
    "$NETRUN" train "$WORK/s.netg" --data "$D" --steps 1 --out "$R" --overwrite --threads 1
printf 'garbage' > "$R/class_stats.bin"
expect 0 "warning: $R/class_stats.bin: not a class statistics file" "a foreign file is rebuilt with a warning" -- \
    "$NETRUN" train "$WORK/s.netg" --data "$D" --steps 1 --out "$R" --overwrite --threads 1
out=$("$NETRUN" train "$WORK/s.netg" --data "$D" --steps 1 --out "$R" --overwrite --threads 1 2>&1)
grep -q "from $R/class_stats.bin" <<<"$out" && ok "the rebuilt cache is used again" || fail "rebuilt cache: $(head -2 <<<"$out")"

# 5 steps, extended by 5 more (--resume of a finished run): the same weights as 10 steps at once
NETRUN_LOADER_THREADS=1 "$NETRUN" train "$WORK/s.netg" --data "$D" --steps 10 --out "$WORK/ref" --threads 1 --quiet ||
    fail "ref run"
"$NETRUN" train "$WORK/s.netg" --data "$D" --steps 5 --out "$WORK/half" --threads 1 --quiet || fail "half run"
"$NETRUN" train "$WORK/s.netg" --data "$D" --steps 5 --out "$WORK/half" --threads 1 --quiet \
    --resume "$WORK/half/last.safetensors" || fail "resumed run"
cmp -s "$WORK/ref/last.safetensors" "$WORK/half/last.safetensors" &&
    ok "a resumed run with foreground and repeat sampling ends bit for bit as one run" ||
    fail "resume differs from the uninterrupted run"
# the checkpoint keeps the sampling options: resuming with others is refused, naming them
expect 1 "the run had --set foreground=0.5; resume it with the same settings to continue it exactly (this one: --set foreground=0.2)" \
    "a resume with another foreground share is refused, both values named" -- \
    "$NETRUN" train "$WORK/s.netg" --data "$D" --steps 10 --out "$WORK/other" --threads 1 --quiet \
    --resume "$WORK/half/last.safetensors" --set foreground=0.2

# the crop hook runs on the loader threads: 4 of them draw what 1 draws
NETRUN_LOADER_THREADS=4 "$NETRUN" train "$WORK/s.netg" --data "$D" --steps 10 --out "$WORK/lt4" --threads 1 --quiet ||
    fail "run with 4 loader threads"
cmp -s "$WORK/ref/last.safetensors" "$WORK/lt4/last.safetensors" &&
    ok "4 loader threads give the weights of 1 (the draws depend on the sample's position only)" ||
    fail "4 loader threads differ from 1"

# the command line overrides the model file's options
out=$("$NETRUN" train "$WORK/s.netg" --data "$D" --steps 4 --out "$WORK/r3" --threads 1 --set foreground=0 \
      --set repeat=0 2>&1) || fail "train --set"
! grep -q "oversampling" <<<"$out" && grep -q " 4 steps per epoch" <<<"$out" &&
    ok "--set foreground=0 --set repeat=0 turn both off (24 images, 4 steps per epoch)" ||
    fail "--set off: $(grep -E 'oversampling|steps per epoch' <<<"$out")"
out=$("$NETRUN" train "$WORK/s.netg" --data "$D" --steps 4 --out "$WORK/r3" --overwrite --threads 1 --set foreground=1 \
      --set foreground_mode=random 2>&1) || fail "train --set random"
grep -q "each image with probability 1 drawn by class" <<<"$out" && grep -q "oversampling: 24 images, 24 drawn by class" <<<"$out" &&
    ok "--set foreground=1 foreground_mode=random forces every sample" ||
    fail "--set random: $(grep -E 'oversampling' <<<"$out")"
expect 2 "option 'foreground' takes a number in 0..1, not '2'" "--set foreground=2 is refused" -- \
    "$NETRUN" train "$WORK/s.netg" --data "$D" --steps 1 --out "$WORK/r3" --set foreground=2

# images of the model's size: no crops, the forced slots' images drawn by
# class all the same; the run trains, and differs from one without
"$GEN_DATA" --out "$WORK/small" --count 6 --size 32 --classes 6 --seed 6 >/dev/null
out=$("$NETRUN" train "$WORK/s.netg" --data "$WORK/small" --steps 1 --out "$WORK/r2" --threads 1 --set repeat=0 2>&1) ||
    fail "train on images of the model's size: $(tail -3 <<<"$out")"
grep -q "the last 3 of every 6 images drawn by class (0.5 of 0.5 asked; [0-9]* foreground classes in 6 images)$" \
    <<<"$out" && grep -q "oversampling: 6 images, 3 drawn by class" <<<"$out" && ! grep -q "does nothing" <<<"$out" &&
    [ -s "$WORK/r2/last.safetensors" ] &&
    ok "foreground = 0.5 on images of the model's size: the last 3 of 6 drawn by class, no warning, trained" ||
    fail "model-size images: $(grep -E 'oversampling|warning' <<<"$out")"
"$NETRUN" train "$WORK/s.netg" --data "$WORK/small" --steps 1 --out "$WORK/r2off" --threads 1 --set repeat=0 \
    --set foreground=0 --quiet || fail "train without foreground"
cmp -s "$WORK/r2/last.safetensors" "$WORK/r2off/last.safetensors" &&
    fail "foreground = 0.5 on images of the model's size changed nothing" ||
    ok "foreground = 0.5 on images of the model's size changes the batches (other weights than without)"
# the default draw (image: nnU-Net v2's rule) has no crops to centre here: it says so, and changes nothing
# (the tensors' bytes compared: the header records the options)
st_data() { local n; n=$(od -An -t u8 -N8 "$1" | tr -d ' '); tail -c +$((9 + n)) "$1"; }
out=$("$NETRUN" train "$WORK/s.netg" --data "$WORK/small" --steps 1 --out "$WORK/r2img" --threads 1 --set repeat=0 \
      --set foreground_draw=image 2>&1) || fail "train with foreground_draw = image: $(tail -3 <<<"$out")"
grep -q "warning: option foreground = 0.5 with foreground_draw = image does nothing here: no crops" <<<"$out" &&
    "$NETRUN" train "$WORK/s.netg" --data "$WORK/small" --steps 1 --out "$WORK/r2img0" --threads 1 --set repeat=0 \
        --set foreground=0 --quiet &&
    cmp -s <(st_data "$WORK/r2img/last.safetensors") <(st_data "$WORK/r2img0/last.safetensors") &&
    ok "foreground_draw = image on images of the model's size: a warning, the same weights as without" ||
    fail "foreground_draw = image: $(grep -E 'oversampling|warning' <<<"$out")"
finish
