#!/usr/bin/env bash
# e2e_recovery.sh — nothing is lost: SIGTERM and SIGINT stop `netrun train`
# after the current step with a checkpoint and a resume command (exit 143,
# 130); a second signal stops it at once; a run killed with SIGKILL at a
# random step resumes from its --checkpoint-every checkpoint; every resumed
# run ends with the same weights (cmp) and the same log as one that was never
# interrupted.  Stale temporaries of killed runs are removed; a full disk, a
# file size limit and a read-only run folder are clear errors that leave the
# last checkpoint as it was.
. "$(dirname "$0")/e2e_lib.sh"
M=$SOURCE_ROOT/models/unet.net
D=$WORK/train V=$WORK/val
EPOCHS=8
[ "$QUICK" = 1 ] && EPOCHS=5
# under valgrind a step takes ~0.4 s: 12 steps leave the signals time to land mid-run
[ -n "${E2E_VALGRIND:-}" ] && EPOCHS=3
"$GEN_DATA" --out "$D" --count 16 --size 16 --classes 4 --seed 1 >/dev/null
"$GEN_DATA" --out "$V" --count 4 --size 16 --classes 4 --seed 2 >/dev/null
"$NETC" "$M" -D BASE=4 -D SIZE=16 -D DEPTH=2 -D BATCH=4 -D CLASSES=4 -D LR=3e-3 -o "$WORK/u.netg" || fail "compile"
STEPS=$((EPOCHS * 4))
# the run every test interrupts (an array, so that `"${train[@]}" &` is the
# tool itself and $! its PID)
train=("$NETRUN" train "$WORK/u.netg" --data "$D" --val "$V" --epochs "$EPOCHS" --seed 3 --augment)

# step_of CKPT: the step a checkpoint holds (its metadata), or nothing
step_of() { local s; s=$(grep -ao -m1 '"step":"[0-9]*"' "$1" 2>/dev/null); s=${s#*:\"}; echo "${s%\"}"; }
# same_run NAME DIR: DIR ended as the uninterrupted run did
same_run() {
    cmp -s "$WORK/ref/last.safetensors" "$1/last.safetensors" && cmp -s "$WORK/ref/best.safetensors" "$1/best.safetensors" &&
        ok "$2: the same weights as the uninterrupted run" || fail "$2: the weights differ from the uninterrupted run"
    if cmp -s <(cut -d, -f1-7 "$WORK/ref/log.csv") <(cut -d, -f1-7 "$1/log.csv") &&
        cmp -s "$WORK/ref/metrics.jsonl" "$1/metrics.jsonl"; then
        ok "$2: the same losses and validation in log.csv and metrics.jsonl"
    else
        fail "$2: the log differs: $(diff <(cut -d, -f1-7 "$WORK/ref/log.csv") <(cut -d, -f1-7 "$1/log.csv") | head -5)"
    fi
}

"${train[@]}" --out "$WORK/ref" --quiet || fail "the uninterrupted run"

# a signal at a random step: the step finishes, the checkpoint is written,
# the printed command continues the run
for sig in TERM INT; do
    R=$WORK/$sig
    k=$((RANDOM % (STEPS / 3) + 1))
    "${train[@]}" --out "$R" --quiet --checkpoint-every 1 2> "$WORK/$sig.err" &
    pid=$!
    wait_step "$R/last.safetensors" "$k" "$pid"
    kill -s "$sig" "$pid"
    status=0
    wait "$pid" || status=$?
    want=$([ "$sig" = TERM ] && echo 143 || echo 130)
    grep -q "stopped by SIG$sig after step" "$WORK/$sig.err" && [ "$status" -eq "$want" ] &&
        ok "SIG$sig at step $k: stops after the step, exit $want" ||
        fail "SIG$sig at step $k: exit $status, expected $want; $(tail -2 "$WORK/$sig.err")"
    stopped=$(grep -o 'after step [0-9]*' "$WORK/$sig.err" | grep -o '[0-9]*$')
    [ -n "$stopped" ] && [ "$(step_of "$R/last.safetensors")" = "$stopped" ] &&
        ok "SIG$sig: last.safetensors holds step $stopped" || fail "SIG$sig: checkpoint at step $(step_of "$R/last.safetensors"), stopped after '$stopped'"
    resume=$(sed -n 's/^to continue: //p' "$WORK/$sig.err")
    case "$resume" in # run as printed, but by $NETRUN (under valgrind: the wrapper)
        *" train "*"--resume $R/last.safetensors")
            eval "\"\$NETRUN\" ${resume#* } --quiet" || fail "SIG$sig: the printed resume command failed" ;;
        *) fail "SIG$sig: no resume command printed: $(tail -2 "$WORK/$sig.err")" ;;
    esac
    same_run "$R" "SIG$sig at step $k, resumed"
done

# SIGKILL at a random step: resume from the last --checkpoint-every checkpoint
R=$WORK/kill
k=$((RANDOM % (STEPS / 3) + 2))
"${train[@]}" --out "$R" --quiet --checkpoint-every 3 &
pid=$!
wait_step "$R/last.safetensors" "$k" "$pid"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
at=$(step_of "$R/last.safetensors")
"${train[@]}" --out "$R" --quiet --checkpoint-every 3 --resume "$R/last.safetensors" || fail "resume after SIGKILL"
same_run "$R" "SIGKILL at step $k (checkpoint of step $at), resumed"

# a second signal stops at once: no checkpoint, killed by the signal
R=$WORK/twice
"${train[@]}" --out "$R" --quiet --checkpoint-every 1 2> "$WORK/twice.err" &
pid=$!
wait_step "$R/last.safetensors" 1 "$pid"
kill -s INT "$pid"
kill -s TERM "$pid"
status=0
wait "$pid" || status=$?
# (either may be first: the two can reach two threads at once)
{ [ "$status" -eq 143 ] || [ "$status" -eq 130 ]; } && ! grep -q "stopped by" "$WORK/twice.err" &&
    ok "a second signal stops at once" ||
    fail "SIGINT then SIGTERM: exit $status; $(tail -2 "$WORK/twice.err")"

# stale temporaries: a dead writer's go, a live one's stay
R=$WORK/stale
mkdir -p "$R"
sh -c 'exit 0' &
dead=$!
wait "$dead"
echo junk > "$R/last.safetensors.tmp.$dead"
echo junk > "$R/best.safetensors.tmp.$$"
expect 0 "removed stale $R/last.safetensors.tmp.$dead" "a killed run's temporary file is removed" -- \
    "$NETRUN" train "$WORK/u.netg" --data "$D" --steps 1 --out "$R" --overwrite
[ ! -e "$R/last.safetensors.tmp.$dead" ] && [ -e "$R/best.safetensors.tmp.$$" ] &&
    ok "only the temporaries of dead processes are removed" || fail "stale temporaries: $(ls "$R")"

# a write that fails leaves the last checkpoint as it was
R=$WORK/limit
"$NETRUN" train "$WORK/u.netg" --data "$D" --steps 2 --out "$R" --quiet
cp "$R/last.safetensors" "$WORK/before.safetensors"
expect 1 "last.safetensors: cannot write: File too large" "a file size limit is a clear error" -- \
    bash -c 'ulimit -f 8 && exec "$@"' - "$NETRUN" train "$WORK/u.netg" --data "$D" --steps 4 --out "$R" \
    --resume "$R/last.safetensors" --checkpoint-every 1
cmp -s "$R/last.safetensors" "$WORK/before.safetensors" && ! ls "$R"/*.tmp.* >/dev/null 2>&1 &&
    ok "after the failed write the checkpoint is intact, no temporary left" || fail "the checkpoint changed: $(ls "$R")"

MNT=$WORK/mnt
mkdir -p "$MNT"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=512k tmpfs "$MNT" 2>/dev/null; then
    trap 'umount "$MNT" 2>/dev/null; rm -rf "$WORK"' EXIT
    R=$MNT/run
    "$NETRUN" train "$WORK/u.netg" --data "$D" --steps 2 --out "$R" --quiet
    cp "$R/last.safetensors" "$WORK/before.safetensors"
    dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null
    expect 1 "No space left on device" "a full disk is a clear error" -- \
        "$NETRUN" train "$WORK/u.netg" --data "$D" --steps 4 --out "$R" --resume "$R/last.safetensors" --checkpoint-every 1
    cmp -s "$R/last.safetensors" "$WORK/before.safetensors" && ! ls "$R"/*.tmp.* >/dev/null 2>&1 &&
        ok "a full disk leaves the checkpoint intact" || fail "full disk: the checkpoint changed: $(ls "$R")"
    rm -f "$MNT/fill"
    mount -o remount,ro "$MNT"
    expect 1 "Read-only file system" "a read-only run folder is a clear error" -- \
        "$NETRUN" train "$WORK/u.netg" --data "$D" --steps 4 --out "$R" --resume "$R/last.safetensors"
    cmp -s "$R/last.safetensors" "$WORK/before.safetensors" && ok "a read-only folder leaves the checkpoint intact" ||
        fail "read-only: the checkpoint changed"
    umount "$MNT"
elif [ "$(id -u)" -ne 0 ]; then
    R=$WORK/ro
    "$NETRUN" train "$WORK/u.netg" --data "$D" --steps 2 --out "$R" --quiet
    cp "$R/last.safetensors" "$WORK/before.safetensors"
    chmod a-w "$R"
    expect 1 "Permission denied" "an unwritable run folder is a clear error" -- \
        "$NETRUN" train "$WORK/u.netg" --data "$D" --steps 4 --out "$R" --resume "$R/last.safetensors"
    chmod u+w "$R"
    cmp -s "$R/last.safetensors" "$WORK/before.safetensors" && ok "an unwritable folder leaves the checkpoint intact" ||
        fail "unwritable: the checkpoint changed"
    echo "# skip: full disk (needs root to mount a small tmpfs)"
else
    echo "# skip: full disk and read-only folder (mount -t tmpfs failed)"
fi
finish
