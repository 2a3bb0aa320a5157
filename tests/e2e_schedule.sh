#!/usr/bin/env bash
# e2e_schedule.sh — a learning-rate schedule survives an interruption: a run
# with sgd + nesterov + poly (with warmup) + clip_norm, stopped by SIGTERM
# after a step and resumed from its checkpoint, ends with the same weights as
# the run that was never interrupted (the schedule reads the step from the
# checkpoint and the run's total steps, not the steps of the resumed part);
# the same model with a constant learning rate ends elsewhere (so the
# schedule is not a no-op), and `netrun info` shows the optimizer.
. "$(dirname "$0")/e2e_lib.sh"
D=$WORK/train
EPOCHS=48
[ "$QUICK" = 1 ] && EPOCHS=12 # 48 steps: past the warmup and the steps the signal comes at
"$GEN_DATA" --out "$D" --count 16 --size 16 --classes 4 --seed 1 >/dev/null
model() {
    cat <<EOF
input image : f32[4, 1, 16, 16]
input mask : labels[4, 16, 16] classes 4
h = relu(conv2d(image, 8, 3, pad = same))
h2 = relu(conv2d(h, 8, 3, pad = same))
logits = conv2d(h2, 4, 1)
output prediction = softmax(logits, axis = 1)
minimize cross_entropy(logits, mask) with sgd(lr = $1, momentum = 0.9, nesterov = true, weight_decay = 1e-4, clip_norm = 1)
EOF
}
model "poly(0.05, power = 0.9, warmup = 5)" > "$WORK/s.net"
model "0.05" > "$WORK/c.net"
"$NETC" "$WORK/s.net" -o "$WORK/s.netg" || fail "compile the scheduled model"
"$NETC" "$WORK/c.net" -o "$WORK/c.netg" || fail "compile the constant-lr model"

expect 0 "optimizer: sgd(lr = poly(0.05, power = 0.9, warmup = 5), momentum = 0.9, nesterov = true, weight_decay = 0.0001, clip = 0, clip_norm = 1)" \
    "netrun info prints the optimizer, its settings and its schedule" -- "$NETRUN" info "$WORK/s.netg"

train=("$NETRUN" train "$WORK/s.netg" --data "$D" --epochs "$EPOCHS" --seed 3)
"${train[@]}" --out "$WORK/ref" --quiet || fail "the uninterrupted run"
"$NETRUN" train "$WORK/c.netg" --data "$D" --epochs "$EPOCHS" --seed 3 --out "$WORK/const" --quiet ||
    fail "the constant-lr run"
cmp -s "$WORK/ref/last.safetensors" "$WORK/const/last.safetensors" &&
    fail "the schedule changed nothing (same weights as a constant lr)" ||
    ok "the schedule changes the weights (a constant lr ends elsewhere)"

R=$WORK/stopped
k=$((RANDOM % 8 + 3)) # inside the warmup or just after it
"${train[@]}" --out "$R" --quiet --checkpoint-every 1 2> "$WORK/stop.err" &
pid=$!
wait_step "$R/last.safetensors" "$k" "$pid"
kill -s TERM "$pid"
status=0
wait "$pid" || status=$?
stopped=$(grep -o 'after step [0-9]*' "$WORK/stop.err" | grep -o '[0-9]*$')
if [ "$status" -eq 143 ] && [ -n "$stopped" ]; then
    ok "SIGTERM at step $stopped of $((EPOCHS * 4)): stopped with a checkpoint"
    "${train[@]}" --out "$R" --quiet --checkpoint-every 1 --resume "$R/last.safetensors" || fail "the resumed run"
    cmp -s "$WORK/ref/last.safetensors" "$R/last.safetensors" &&
        ok "resumed from step $stopped: the same weights as the uninterrupted run" ||
        fail "resumed from step $stopped: the weights differ from the uninterrupted run"
else
    fail "SIGTERM at step $k: exit $status, expected 143; $(tail -2 "$WORK/stop.err")"
fi
finish
