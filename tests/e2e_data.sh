#!/bin/bash
# e2e_data.sh — datasets as they come (issue 10): the images/+masks/ folders
# with JPEG and PNG images of odd sizes, the VOC layout, list files; the size
# policies crop, pad and resize in training; sliding-window evaluation and
# prediction at each image's own size (tile by tile against the model on
# each tile); an RGB model with mean/std; --tta and --prior-correction;
# --set and its errors; train --profile.  Needs DATA_FIXTURE (tests/data_fixture.c).
. "$(dirname "$0")/e2e_lib.sh"
FIX=$DATA_FIXTURE

"$GEN_DATA" --out "$WORK/src" --count 12 --size 64 --classes 3 --max-objects 2 --seed 5 > /dev/null \
    || { echo "FAIL - gen_data"; exit 1; }

# a small model: 32x32 tiles, batch 4, 3 classes
model() { # model NAME CHANNELS [option lines...]
    local name=$1 ch=$2
    shift 2
    {
        echo "input image : f32[4, $ch, 32, 32]"
        echo "input mask  : labels[4, 32, 32] classes 3"
        for l in "$@"; do echo "$l"; done
        echo "h = relu(conv2d(image, 8, 3, pad = same))"
        echo "h = relu(conv2d(h, 8, 3, pad = same))"
        echo "logits = conv2d(h, 3, 1)"
        echo "output prediction = softmax(logits, axis = 1)"
        echo "loss = cross_entropy(logits, mask)"
        echo "minimize loss with adam(lr = 3e-3)"
    } > "$WORK/$name.net"
    "$NETC" "$WORK/$name.net" -o "$WORK/$name.netg" || fail "netc $name"
}
model gray 1
model rgb 3 "option mean = [0.3, 0.3, 0.7]" "option std = [0.2, 0.2, 0.2]"
model resize 1 "option size = resize"

# labelled pixels of eval --json (the confusion matrix's sum)
labelled() { grep -o '"confusion":\[[][0-9,]*' "$1" | tr -c '0-9\n' ' ' | awk '{for(i=1;i<=NF;i++)s+=$i} END{print s+0}'; }

# --- images/ + masks/: odd sizes, PNG and JPEG mixed, a JPEG named .png ---
"$FIX" make "$WORK/src" "$WORK/odd" --sizes 37x53,64x64,20x29,50x41 || fail "fixture odd"
"$FIX" make "$WORK/src" "$WORK/oddj" --jpeg --sizes 37x53,64x64,20x29,50x41 || fail "fixture jpeg"
mv "$WORK/oddj/images/img_0001.jpg" "$WORK/odd/images/img_0001.jpg" && rm "$WORK/odd/images/img_0001.png"
cp "$WORK/oddj/images/img_0002.jpg" "$WORK/odd/images/img_0002.png" # JPEG content, .png name
expect 1 "img_0003.jpg and img_0003.png have the same name" "two images of one stem" -- sh -c \
    "cp '$WORK/oddj/images/img_0003.jpg' '$WORK/odd/images/' && '$NETRUN' train '$WORK/gray.netg' --data '$WORK/odd' --steps 1 --out '$WORK/r0'"
rm -f "$WORK/odd/images/img_0003.jpg"
sum=0
for i in 0 1 2 3 4 5 6 7 8 9 10 11; do # the images' own sizes: 37x53, 64x64, 20x29, 50x41, ...
    case $((i % 4)) in 0) sum=$((sum + 37 * 53));; 1) sum=$((sum + 64 * 64));; 2) sum=$((sum + 20 * 29));; 3) sum=$((sum + 50 * 41));; esac
done
policies="crop pad resize"
[ "$QUICK" = 1 ] && policies="crop pad" # under valgrind: the same code paths, fewer runs
for policy in $policies; do
    expect 0 "" "train size = $policy on odd sizes, JPEG and PNG" -- \
        "$NETRUN" train "$WORK/gray.netg" --data "$WORK/odd" --val "$WORK/odd" --epochs 2 --set size=$policy \
        --augment --out "$WORK/r_$policy" --quiet
done
[ -s "$WORK/r_crop/best.safetensors" ] && ok "crop run: checkpoints" || fail "crop run: no checkpoint"
"$NETRUN" eval "$WORK/gray.netg" --weights "$WORK/r_crop/best.safetensors" --data "$WORK/odd" --json > "$WORK/ev.json" \
    && ok "eval with sliding windows" || fail "eval with sliding windows"
got=$(labelled "$WORK/ev.json")
[ "$got" = "$sum" ] && ok "metrics at full resolution ($got pixels)" || fail "metrics over $got pixels, the images have $sum"
"$NETRUN" eval "$WORK/gray.netg" --weights "$WORK/r_crop/best.safetensors" --data "$WORK/odd" --json \
    --set infer_size=resize > "$WORK/evr.json" && [ "$(labelled "$WORK/evr.json")" = "$sum" ] \
    && ok "eval by resizing: full resolution too" || fail "eval by resizing"
"$NETRUN" predict "$WORK/gray.netg" --weights "$WORK/r_crop/best.safetensors" --input "$WORK/odd/images" \
    --output "$WORK/pred" --quiet && ok "predict odd sizes" || fail "predict odd sizes"
[ "$("$FIX" size "$WORK/pred/img_0000.png")" = "53 37" ] && [ "$("$FIX" size "$WORK/pred/img_0001.png")" = "64 64" ] \
    && [ "$("$FIX" size "$WORK/pred/img_0002.png")" = "29 20" ] && ok "masks at each image's own size" \
    || fail "mask sizes: $("$FIX" size "$WORK/pred/img_0000.png") $("$FIX" size "$WORK/pred/img_0002.png")"
expect 0 "pixel accuracy" "eval --tta --prior-correction 0.5" -- "$NETRUN" eval "$WORK/gray.netg" \
    --weights "$WORK/r_crop/best.safetensors" --data "$WORK/odd" --tta --prior-correction 0.5
# prior correction moves predictions from the frequent background to rarer classes
share0() { "$NETRUN" eval "$WORK/gray.netg" --weights "$WORK/r_crop/best.safetensors" --data "$WORK/odd" --json \
    --prior-correction "$1" | grep -o '"pred_share_class0":[0-9.e-]*' | cut -d: -f2; }
s0=$(share0 0); s1=$(share0 1)
awk -v a="$s0" -v b="$s1" 'BEGIN { exit !(b + 0 <= a + 0 && a != "" && b != "") }' \
    && ok "prior correction: background share $s0 -> $s1" || fail "prior correction: background share $s0 -> $s1"
[ "$QUICK" = 1 ] || expect 0 "pixel accuracy" "eval --set tta=all (8 symmetries)" -- "$NETRUN" eval \
    "$WORK/gray.netg" --weights "$WORK/r_crop/best.safetensors" --data "$WORK/odd" --set tta=all
expect 2 "option 'tta' takes none, flips or all, not 'rot'" "--set checks the value" -- "$NETRUN" eval \
    "$WORK/gray.netg" --weights "$WORK/r_crop/best.safetensors" --data "$WORK/odd" --set tta=rot
expect 2 "unknown option 'overlapp' (did you mean 'overlap'?" "--set checks the key" -- "$NETRUN" info "$WORK/gray.netg" --set overlapp=0.2
expect 0 "overlap          = 0.25" "info lists the options in effect" -- "$NETRUN" info "$WORK/gray.netg" --set overlap=0.25
expect 0 "data: " "train --profile: the data wait" -- "$NETRUN" train "$WORK/gray.netg" --data "$WORK/odd" \
    --steps 3 --out "$WORK/rp" --profile --quiet

# --- sliding windows, tile by tile: overlap 0 on an image of 3 x 2 tiles
# equals the model on each tile; an image of no whole tile count is covered
"$FIX" make "$WORK/src" "$WORK/big" --sizes 96x64 || fail "fixture big"
mkdir -p "$WORK/bigin" && cp "$WORK/big/images/img_0004.png" "$WORK/bigin/big.png"
"$FIX" tiles "$WORK/bigin/big.png" "$WORK/tiles" 32 32 || fail "tiles"
"$NETRUN" predict "$WORK/gray.netg" --weights "$WORK/r_crop/best.safetensors" --input "$WORK/bigin" \
    --output "$WORK/pbig" --quiet --set overlap=0 || fail "predict big"
"$NETRUN" predict "$WORK/gray.netg" --weights "$WORK/r_crop/best.safetensors" --input "$WORK/tiles" \
    --output "$WORK/ptiles" --quiet || fail "predict tiles"
"$FIX" same-tiles "$WORK/pbig/big.png" "$WORK/ptiles" 32 32 && ok "sliding windows = the model on each tile" \
    || fail "sliding windows differ from the tiles"
"$NETRUN" predict "$WORK/gray.netg" --weights "$WORK/r_crop/best.safetensors" --input "$WORK/bigin" \
    --output "$WORK/pbig2" --quiet || fail "predict big, overlap 0.5"
cmp -s "$WORK/pbig/big.png" "$WORK/pbig2/big.png" && fail "overlap 0.5 should blend tiles (same mask as overlap 0)" \
    || ok "overlap 0.5 blends (another mask than overlap 0)"
[ "$("$FIX" size "$WORK/pbig2/big.png")" = "64 96" ] && ok "the blended mask covers the whole image" || fail "big size"

# --- the VOC layout ---
"$FIX" make "$WORK/src" "$WORK/VOCdevkit/VOC2012" --layout voc --rgb --sizes 40x52,64x48,33x37 || fail "fixture voc"
V=$WORK/VOCdevkit/VOC2012
expect 0 "" "VOC: train (train split, val split)" -- "$NETRUN" train "$WORK/rgb.netg" --data "$V" --split train \
    --val "$V" --epochs 2 --augment --out "$WORK/rv" --quiet
expect 0 "4 images from" "VOC: eval (val split by default)" -- "$NETRUN" eval "$WORK/rgb.netg" \
    --weights "$WORK/rv/best.safetensors" --data "$V"
expect 0 "" "VOC: predict" -- "$NETRUN" predict "$WORK/rgb.netg" --weights "$WORK/rv/best.safetensors" \
    --input "$V" --split val --output "$WORK/pv" --quiet
id=$(head -1 "$V/ImageSets/Segmentation/val.txt")
[ -s "$WORK/pv/$id.png" ] && ok "VOC: predicted $id.png" || fail "VOC: no $id.png"
echo "2099_000001" >> "$V/ImageSets/Segmentation/val.txt"
expect 1 "JPEGImages/2099_000001.jpg: No such file or directory (listed at $V/ImageSets/Segmentation/val.txt:5)" \
    "VOC: a split list naming a missing file" -- "$NETRUN" eval "$WORK/rgb.netg" --weights "$WORK/rv/best.safetensors" --data "$V"
expect 1 "ImageSets/Segmentation/test.txt" "VOC: a missing split" -- "$NETRUN" eval "$WORK/rgb.netg" \
    --weights "$WORK/rv/best.safetensors" --data "$V" --split test
expect 1 "not a VOC folder" "--split on another layout" -- "$NETRUN" eval "$WORK/gray.netg" \
    --weights "$WORK/r_crop/best.safetensors" --data "$WORK/odd" --split val
expect 1 "option mean = 0.3,0.3,0.7: 3 values for a model of 1 channel" "mean of another length" -- \
    "$NETRUN" eval "$WORK/gray.netg" --weights "$WORK/r_crop/best.safetensors" --data "$WORK/odd" --set mean=0.3,0.3,0.7

# --- a list file (mask stems differ from the images') ---
"$FIX" make "$WORK/src" "$WORK/lst" --layout list --jpeg --sizes 45x33 || fail "fixture list"
expect 0 "" "list file: train" -- "$NETRUN" train "$WORK/gray.netg" --data "$WORK/lst/list.txt" \
    --val "$WORK/lst/list.txt" --epochs 1 --out "$WORK/rl" --quiet
mkdir -p "$WORK/lst/other" && cp "$WORK/lst/img/img_0000.jpg" "$WORK/lst/other/img_0000.png"
echo "other/img_0000.png" > "$WORK/lst/pred.txt" && echo "img/img_0000.jpg" >> "$WORK/lst/pred.txt"
expect 1 "two images of the name img_0000" "list file: predict refuses two images of one name" -- \
    "$NETRUN" predict "$WORK/gray.netg" --weights "$WORK/rl/best.safetensors" --input "$WORK/lst/pred.txt" --output "$WORK/pl"
echo "img/none.jpg lbl/none.png" >> "$WORK/lst/list.txt"
expect 1 "lst/img/none.jpg: No such file or directory (listed at $WORK/lst/list.txt:14)" \
    "list file: a missing file named with its line" -- "$NETRUN" eval "$WORK/gray.netg" \
    --weights "$WORK/rl/best.safetensors" --data "$WORK/lst/list.txt"
finish
