#!/usr/bin/env bash
# e2e_models.sh — the U-Net variants of models/ (unet_transposed.net,
# resunet.net, attention_unet.net): each compiles at its full size (the
# file's defaults), then trains small on generated data without class
# weights, and its training loss must fall; eval and predict run on the
# result.
. "$(dirname "$0")/e2e_lib.sh"
D=$WORK/train V=$WORK/val
COUNT=32 EPOCHS=6 BASE=8
[ "$QUICK" = 1 ] && COUNT=8 EPOCHS=2 BASE=2
"$GEN_DATA" --out "$D" --count "$COUNT" --size 32 --classes 6 --seed 1 >/dev/null
"$GEN_DATA" --out "$V" --count 8 --size 32 --classes 6 --seed 2 >/dev/null
for m in unet_transposed resunet attention_unet; do
    M=$SOURCE_ROOT/models/$m.net
    expect 0 "" "$m compiles at full size" -- "$NETC" "$M" -o "$WORK/$m.full.netg"
    if [ "$QUICK" = 1 ]; then
        echo "# skip: netrun info at full size (QUICK: it sets up 30M parameters)"
    else
        "$NETRUN" info "$WORK/$m.full.netg" > "$WORK/$m.info" 2>&1 && grep -q "parameters: [1-9]" "$WORK/$m.info" &&
            ok "$m full size: $(grep -o 'parameters: [0-9]*' "$WORK/$m.info")" || fail "$m info: $(head -3 "$WORK/$m.info")"
    fi
    if ! "$NETC" "$M" -D BASE=$BASE -D SIZE=32 -D DEPTH=2 -D BATCH=4 -D CLASSES=6 -D LR=3e-3 -D WEIGHTS=none \
            -o "$WORK/$m.netg"; then
        fail "$m compiles small"
        continue
    fi
    R=$WORK/run_$m
    expect 0 "epoch $EPOCHS: train loss" "$m trains $EPOCHS epochs with validation" -- \
        "$NETRUN" train "$WORK/$m.netg" --data "$D" --val "$V" --epochs "$EPOCHS" --seed 5 --out "$R"
    loss_falls "$m: " "$R/log.csv"
    expect 0 "foreground mIoU" "$m: eval" -- "$NETRUN" eval "$WORK/$m.netg" --weights "$R/best.safetensors" --data "$V"
    expect 0 "" "$m: predict" -- "$NETRUN" predict "$WORK/$m.netg" --weights "$R/best.safetensors" \
        --input "$V/images" --output "$WORK/pred_$m" --quiet
    [ "$(ls "$WORK/pred_$m" | wc -l)" -eq 8 ] && ok "$m: one mask per image" || fail "$m: masks: $(ls "$WORK/pred_$m" | wc -l)"
done
finish
