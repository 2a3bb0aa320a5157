#!/usr/bin/env bash
# e2e_bf16.sh — option precision = bf16 (runtime/cpu/conv_bf16.h) on real
# training runs: it changes the weights (the bf16 kernels ran) but not the
# files (a bf16 checkpoint evaluates like any other); the results do not
# depend on the thread count; a run of 8 steps and one of 4 extended by 4
# (4 and 2 + 2 when QUICK) end with the same bits; under NETRUN_ISA=avx2 it says in one line that it
# runs f32 and ends with the same bits as f32.  `netrun bench` prints the
# precision.  The bf16 parts are skipped on a CPU without AVX512_BF16.  The
# network has 32 channels, so that the automatic choice takes bf16 for its
# 1x1 head and 2x2 up-convolutions (conv_bf16.c: bf16_wanted).
. "$(dirname "$0")/e2e_lib.sh"
N=8     # steps of the straight runs; the resumed one does N/2 + N/2
[ "$QUICK" = 1 ] && N=4
D=$WORK/train
"$GEN_DATA" --out "$D" --count 8 --size 16 --classes 4 --seed 1 >/dev/null
"$NETC" "$SOURCE_ROOT/models/unet.net" -D BASE=32 -D SIZE=16 -D DEPTH=1 -D BATCH=4 -D CLASSES=4 \
    -o "$WORK/u.netg" || fail "compile"
# a small one where no bf16 kernel is needed (valgrind, which has no AVX-512, runs only this part)
"$NETC" "$SOURCE_ROOT/models/unet.net" -D BASE=4 -D SIZE=16 -D DEPTH=1 -D BATCH=4 -D CLASSES=4 \
    -o "$WORK/small.netg" || fail "compile the small one"
train() { "$NETRUN" train "$WORK/u.netg" --data "$D" --seed 3 --quiet "$@"; }

# without AVX512_BF16 (here: lowered by NETRUN_ISA) bf16 is f32, said once
small=("$NETRUN" train "$WORK/small.netg" --data "$D" --seed 3 --quiet --steps 2 --threads 1)
NETRUN_ISA=avx2 "${small[@]}" --out "$WORK/avx2_f32" || fail "train f32 (avx2)"
NETRUN_ISA=avx2 "${small[@]}" --out "$WORK/avx2_bf16" --set precision=bf16 \
    2> "$WORK/avx2.err" || fail "train bf16 (avx2)"
[ "$(grep -c "precision bf16 needs AVX512_BF16; running f32" "$WORK/avx2.err")" = 1 ] &&
    ok "NETRUN_ISA=avx2: one line says bf16 needs AVX512_BF16 and runs f32" ||
    fail "NETRUN_ISA=avx2: no message: $(head -3 "$WORK/avx2.err")"
cmp -s "$WORK/avx2_f32/last.safetensors" "$WORK/avx2_bf16/last.safetensors" &&
    ok "NETRUN_ISA=avx2: precision=bf16 ends with the same bits as f32" ||
    fail "NETRUN_ISA=avx2: precision=bf16 differs from f32"

head=$("$NETRUN" bench "$WORK/small.netg" --steps 1 --warmup 0 --set precision=bf16 2>/dev/null | grep -m1 " entry of ")
if [[ $head != *", precision bf16" ]]; then
    [[ $head == *", precision f32" ]] && ok "bench prints the precision it ran (f32: no AVX512_BF16 here)" ||
        fail "bench's header lacks the precision: $head"
    echo "# skip: this CPU has no AVX512_BF16"
    echo "$checks checks, $fails failed"
    [ "$fails" = 0 ] || exit 1
    exit 77
fi
ok "bench prints the precision it ran (bf16)"

train --steps $N --threads 1 --out "$WORK/f32" || fail "train f32"
train --steps $N --threads 1 --out "$WORK/bf16_1" --set precision=bf16 || fail "train bf16, 1 thread"
train --steps $N --threads 2 --out "$WORK/bf16_2" --set precision=bf16 || fail "train bf16, 2 threads"
cmp -s "$WORK/f32/last.safetensors" "$WORK/bf16_1/last.safetensors" &&
    fail "precision=bf16 ended with the same weights as f32: the bf16 kernels did not run" ||
    ok "precision=bf16 changes the weights (its kernels ran)"
cmp -s "$WORK/bf16_1/last.safetensors" "$WORK/bf16_2/last.safetensors" &&
    ok "bf16: the same bits on 1 and 2 threads" || fail "bf16: 1 and 2 threads differ"
train --steps $((N / 2)) --threads 2 --out "$WORK/bf16_4" --set precision=bf16 || fail "train bf16, N/2 steps"
expect 0 "" "bf16: a finished run of $((N / 2)) steps extended by $((N / 2)) (--resume)" -- \
    "$NETRUN" train "$WORK/u.netg" --data "$D" --seed 3 --quiet --steps $((N / 2)) --threads 1 \
    --set precision=bf16 --out "$WORK/bf16_4" --resume "$WORK/bf16_4/last.safetensors"
cmp -s "$WORK/bf16_4/last.safetensors" "$WORK/bf16_1/last.safetensors" &&
    ok "bf16: $((N / 2)) steps resumed for $((N / 2)) more end with the same bits as $N steps" ||
    fail "bf16: the resumed run differs from the straight one"
expect 0 "mIoU" "a bf16 checkpoint evaluates like any other" -- \
    "$NETRUN" eval "$WORK/u.netg" --weights "$WORK/bf16_1/last.safetensors" --data "$D"

echo "$checks checks, $fails failed"
[ "$fails" = 0 ]
