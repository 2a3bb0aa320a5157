#!/usr/bin/env bash
# bench/rss.sh — whole-process peak RSS and time per training step of `netrun train` versus
# PyTorch (bench/torch_unet.py, Debian's python3-torch on CPU) for the full-size
# models/unet.net (base 64, 1x256x256, 32 classes, depth 4), batch 1 and batch 4.
#
#   bench/rss.sh                      # from the repository root; takes several minutes
#   BATCHES="4" STEPS=2 bench/rss.sh  # fewer runs
#
# Environment: BATCHES (default "1 4"), STEPS (timed steps, default 3), OUT (work folder,
# default build/bench-rss), PYTHON (default /usr/bin/python3), NO_BUILD=1 (skip ninja),
# THREADS (default 2: netrun --threads and torch.set_num_threads), VARIANTS (netrun graphs,
# default "plain recompute": netc without flags and with --recompute), TORCH_MALLOC_TUNED=1
# (also run PyTorch with glibc's mmap and trim thresholds at 16 GiB; see docs/benchmarks.md).
#
# Method (see docs/benchmarks.md):
#   peak RSS  = "Maximum resident set size" of /usr/bin/time -v, for a run of 1+STEPS steps.
#   netrun s/step = (wall(1+STEPS steps) - wall(1 step)) / STEPS, both wall times from
#       /usr/bin/time; the difference cancels start-up, graph load, class-weight counting, the
#       first step (arena allocation, page faults) and the checkpoint write at the end. The
#       dataset has batch*(1+STEPS) images or more, so both runs end exactly one epoch, at the
#       last step, and write the checkpoints once.
#   PyTorch s/step = the script's own timer: mean of steps 2..1+STEPS (first step excluded).
set -euo pipefail
cd "$(dirname "$0")/.."

BATCHES=${BATCHES:-"1 4"}
STEPS=${STEPS:-3}
OUT=${OUT:-build/bench-rss}
PYTHON=${PYTHON:-/usr/bin/python3}
THREADS=${THREADS:-2}
# netrun graphs to measure: "plain" (netc defaults) and "recompute" (netc --recompute)
read -r -a VARIANTS <<< "${VARIANTS:-plain recompute}"
vflags() { case $1 in plain) ;; recompute) echo --recompute ;; *) echo "rss.sh: variant $1?" >&2; exit 2 ;; esac; }
NETC=build/compiler/netc
NETRUN=build/runtime/netrun
GEN=build/examples/gen_data
TIME=/usr/bin/time

[ -x "$TIME" ] || { echo "rss.sh: $TIME missing (apt-get install time)" >&2; exit 1; }
"$PYTHON" -c 'import torch, PIL' 2>/dev/null ||
    { echo "rss.sh: $PYTHON lacks torch or PIL (apt-get install python3-torch python3-pil)" >&2; exit 1; }

if [ "${NO_BUILD:-0}" != 1 ]; then
    [ -f build/build.ninja ] || meson setup build >/dev/null
    if ! log=$(ninja -C build compiler/netc runtime/netrun examples/gen_data 2>&1); then
        echo "$log" | tail -20 >&2
        echo "rss.sh: build failed (NO_BUILD=1 uses the binaries in build/ as they are)" >&2
        exit 1
    fi
fi

maxb=1
for b in $BATCHES; do [ "$b" -gt "$maxb" ] && maxb=$b; done
count=$(( maxb * (STEPS + 1) ))
[ "$count" -lt 8 ] && count=8
mkdir -p "$OUT"
data="$OUT/data-$count"
if [ ! -d "$data/images" ]; then
    rm -rf "$data"
    "$GEN" --out "$data" --count "$count" --size 256 --classes 32 --seed 1 >/dev/null
fi

# "Maximum resident set size (kbytes)" -> MiB; "Elapsed (wall clock) time" -> seconds
rss_mib() { awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"; }
cpu_s() { awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$1"; }
wall_s() {
    awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0
        for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$1"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
     "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>}" \
     "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>}" \
     "OMP_NUM_THREADS=${OMP_NUM_THREADS-<unset>} (left as they are)"
echo "torch: $("$PYTHON" -c 'import torch; print(torch.__version__)') ($PYTHON)," \
     "threads $THREADS; dataset: $count images 256x256, 32 classes ($data); timed steps: $STEPS"
echo "tree: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- compiler runtime 2>/dev/null || echo ' + uncommitted changes in compiler/ or runtime/')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

declare -A R
for b in $BATCHES; do
    for v in "${VARIANTS[@]}"; do
        flags=$(vflags "$v")
        g="$OUT/unet-b$b-$v.netg"
        "$NETC" models/unet.net -D TAU=0 -D WEIGHTS=balanced -D BATCH="$b" $flags -o "$g"
        "$NETC" models/unet.net -D TAU=0 -D WEIGHTS=balanced -D BATCH="$b" $flags --emit plan > "$OUT/plan-b$b-$v.txt"
        R[plan$b$v]=$(awk '/^entry train/ { on = 1; next } /^entry / { on = 0 }
            on && /naive sum|liveness bound|planned arena|arena \/ bound/' "$OUT/plan-b$b-$v.txt")
        R[pers$b]=$(grep -m1 '^persistent' "$OUT/plan-b$b-$v.txt" || true)
        for n in 1 $((STEPS + 1)); do
            echo "netrun  batch $b ($v): $n step(s)..." >&2
            rm -rf "$OUT/run-b$b-$v-$n"
            "$TIME" -v -o "$OUT/time-netrun-b$b-$v-$n.txt" "$NETRUN" train "$g" --data "$data" \
                --steps "$n" --threads "$THREADS" --no-shuffle --out "$OUT/run-b$b-$v-$n" --quiet
            rm -rf "$OUT/run-b$b-$v-$n"    # checkpoints: 2 x 356 MiB
        done
        R[nrss$b$v]=$(rss_mib "$OUT/time-netrun-b$b-$v-$((STEPS + 1)).txt")
        R[nrss1$b$v]=$(rss_mib "$OUT/time-netrun-b$b-$v-1.txt")
        t1=$(wall_s "$OUT/time-netrun-b$b-$v-1.txt")
        tn=$(wall_s "$OUT/time-netrun-b$b-$v-$((STEPS + 1)).txt")
        R[nt$b$v]=$(awk -v a="$t1" -v c="$tn" -v s="$STEPS" 'BEGIN { printf "%.2f", (c - a) / s }')
        R[nwall$b$v]="$t1 s (1 step), $tn s ($((STEPS + 1)) steps)"
        c1=$(cpu_s "$OUT/time-netrun-b$b-$v-1.txt")
        cn=$(cpu_s "$OUT/time-netrun-b$b-$v-$((STEPS + 1)).txt")
        R[ncpu$b$v]=$(awk -v a="$c1" -v c="$cn" -v s="$STEPS" 'BEGIN { printf "%.2f", (c - a) / s }')
    done

    echo "pytorch batch $b: $((STEPS + 1)) steps..." >&2
    "$TIME" -v -o "$OUT/time-torch-b$b.txt" "$PYTHON" bench/torch_unet.py --data "$data" \
        --batch "$b" --steps $((STEPS + 1)) --threads "$THREADS" > "$OUT/torch-b$b.txt"
    R[trss$b]=$(rss_mib "$OUT/time-torch-b$b.txt")
    R[tt$b]=$(awk '/^s_per_step/ { printf "%.2f", $2 }' "$OUT/torch-b$b.txt")
    R[tsteps$b]=$(awk '/^step / { printf "%s%s", sep, $5; sep = ", " }' "$OUT/torch-b$b.txt")
    R[twall$b]=$(wall_s "$OUT/time-torch-b$b.txt")
    R[tcpu$b]=$(awk '/^cpu_s_per_step/ { printf "%.2f", $2 }' "$OUT/torch-b$b.txt")
    if [ "${TORCH_MALLOC_TUNED:-0}" = 1 ]; then
        # the same run with glibc malloc told not to give freed memory back to the kernel
        echo "pytorch batch $b, malloc tuned: $((STEPS + 1)) steps..." >&2
        env MALLOC_MMAP_THRESHOLD_=17179869184 MALLOC_TRIM_THRESHOLD_=17179869184 \
            "$TIME" -v -o "$OUT/time-torch-tuned-b$b.txt" "$PYTHON" bench/torch_unet.py \
            --data "$data" --batch "$b" --steps $((STEPS + 1)) --threads "$THREADS" \
            > "$OUT/torch-tuned-b$b.txt"
        R[tuned$b]="peak RSS $(rss_mib "$OUT/time-torch-tuned-b$b.txt") MiB,\
 $(awk '/^s_per_step/ { printf "%.2f", $2 }' "$OUT/torch-tuned-b$b.txt") s/step,\
 $(awk '/^cpu_s_per_step/ { printf "%.2f", $2 }' "$OUT/torch-tuned-b$b.txt") CPU s/step,\
 $(awk -F': ' '/Minor/ { print $2 }' "$OUT/time-torch-tuned-b$b.txt") minor page faults"
    fi
done

echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%5s  %-11s  %10s  %11s  %9s  %13s  %14s  %10s\n' batch "netc flags" "netrun MiB" \
    "PyTorch MiB" "RSS ratio" "netrun s/step" "PyTorch s/step" "time ratio"
for b in $BATCHES; do
    for v in "${VARIANTS[@]}"; do
        printf '%5s  %-11s  %10s  %11s  %9s  %13s  %14s  %10s\n' "$b" "$(vflags "$v" | sed 's/^$/-/')" \
            "${R[nrss$b$v]}" "${R[trss$b]}" \
            "$(awk -v a="${R[nrss$b$v]}" -v c="${R[trss$b]}" 'BEGIN { printf "%.2f", a / c }')" \
            "${R[nt$b$v]}" "${R[tt$b]}" \
            "$(awk -v a="${R[nt$b$v]}" -v c="${R[tt$b]}" 'BEGIN { printf "%.2f", a / c }')"
    done
done
echo "(RSS ratio = netrun / PyTorch peak RSS; time ratio = netrun / PyTorch seconds per step)"
echo
echo "details:"
for b in $BATCHES; do
    for v in "${VARIANTS[@]}"; do
        echo "  batch $b, netrun ($v): wall ${R[nwall$b$v]}; CPU (user + system) ${R[ncpu$b$v]} s/step;" \
             "peak RSS of the 1-step run ${R[nrss1$b$v]} MiB;" \
             "$(awk -F': ' '/Minor/ { print $2 }' "$OUT/time-netrun-b$b-$v-$((STEPS + 1)).txt") minor page faults"
    done
    echo "  batch $b, PyTorch: wall ${R[twall$b]} s; steps ${R[tsteps$b]} s (first excluded from s/step);" \
         "CPU ${R[tcpu$b]} s/step; $(awk -F': ' '/Minor/ { print $2 }' "$OUT/time-torch-b$b.txt") minor page faults"
    [ -z "${R[tuned$b]:-}" ] || echo "  batch $b, PyTorch with MALLOC_MMAP_THRESHOLD_=MALLOC_TRIM_THRESHOLD_=16 GiB: ${R[tuned$b]}"
done
echo
echo "memory plan (netc --emit plan, entry train):"
for b in $BATCHES; do
    echo "  batch $b: ${R[pers$b]}"
    for v in "${VARIANTS[@]}"; do
        echo "   netc flags: $(vflags "$v" | sed 's/^$/(none)/')"
        echo "${R[plan$b$v]}" | sed 's/^ */    /'
    done
done
