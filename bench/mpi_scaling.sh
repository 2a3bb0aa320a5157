#!/usr/bin/env bash
# bench/mpi_scaling.sh — data-parallel throughput (runtime/exec/grad_sync.c, cpu/dist.c): the U-Net
# of models/unet.net trained by 2 ranks of 1 thread (batch B each) against 1
# rank of 1 thread (batch 2B), the same global batch, the same launcher and
# binding (mpirun --bind-to core: each rank on a core of its own; the data
# loader's thread shares it), OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset
# for both.  The two ranks step together, at the slower core's pace; the one
# rank runs on core 0 and core 1 in turn (the cores of this project's VM
# differ in speed, docs/benchmarks.md; rank 0 of --map-by core is on core 0).  Prints s/step, images/s, the ratio (goal >= 1.8) and the load
# the other processes put on the machine (uptime), since figures taken while
# others use the cores mean little.  Not a test.
#
#   bench/mpi_scaling.sh [BUILD_DIR]          (default build)
#   BASE=16 SIZE=128 DEPTH=4 BATCH=4 STEPS=40 ROUNDS=5 BIND=core bench/mpi_scaling.sh build-mpi
# BATCH is the per-rank batch B.
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${BASE:-16} SIZE=${SIZE:-128} DEPTH=${DEPTH:-4} BATCH=${BATCH:-4} STEPS=${STEPS:-40} ROUNDS=${ROUNDS:-5}
BIND=${BIND:-core} # mpirun --bind-to: core (each rank and its loader threads on one core) or none
NETC=$BUILD/compiler/netc NETRUN=$BUILD/runtime/netrun GEN=$BUILD/examples/gen_data
"$NETRUN" --version | grep -q ', MPI)' || { echo "$NETRUN was built without MPI (meson -Dmpi=auto with libopenmpi-dev)"; exit 1; }
command -v mpirun >/dev/null || { echo "no mpirun (Debian: openmpi-bin)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
W=$(mktemp -d /tmp/mpi_scaling.XXXXXX)
trap 'rm -rf "$W"' EXIT
# one epoch for the whole run: the epoch-end checkpoint (a durable write, the same for
# both configurations and not parallel) is then paid once, not every few steps
"$GEN" --out "$W/data" --count $((2 * BATCH * STEPS)) --size "$SIZE" --classes 32 --seed 1 >/dev/null
for b in "$BATCH" $((2 * BATCH)); do
    "$NETC" "$ROOT/models/unet.net" -D BASE="$BASE" -D SIZE="$SIZE" -D DEPTH="$DEPTH" -D BATCH="$b" -o "$W/b$b.netg"
done
params=$("$NETRUN" info "$W/b$BATCH.netg" | sed -n 's/^parameters: \([0-9]*\) .*/\1/p')
echo "U-Net BASE=$BASE SIZE=$SIZE DEPTH=$DEPTH: $params parameters ($((params * 4)) bytes of gradients per step)"
echo "global batch $((2 * BATCH)), $STEPS steps per run, $ROUNDS rounds, $(nproc) cores"

# run RANKS GRAPH [CORE]: seconds per step of the training loop (log.csv's seconds
# column, from the loop's start; the first step's allocations included)
# CORE pins the one rank to that core (mpirun --cpu-set)
run() {
    rm -rf "$W/out"
    local place=(--map-by core)
    [ -n "${3:-}" ] && place=(--cpu-set "$3")
    mpirun --bind-to "$BIND" "${place[@]}" -np "$1" "$NETRUN" train "$2" --data "$W/data" --steps "$STEPS" \
        --threads 1 --no-shuffle --quiet --out "$W/out" >/dev/null 2>"$W/err" || { cat "$W/err"; exit 1; }
    tail -1 "$W/out/log.csv" | awk -F, -v s="$STEPS" '{ printf "%.4f", $8 / s }'
}
# solo CORE: the same training as one of the 2 ranks, in a process of its
# own pinned to CORE, no MPI; both cores at once give the ceiling: what 2
# ranks could reach without any communication (the slower of the two)
solo() {
    rm -rf "$W/solo$1"
    taskset -c "$1" "$NETRUN" train "$W/b$BATCH.netg" --data "$W/data" --steps "$STEPS" --threads 1 --no-shuffle \
        --quiet --out "$W/solo$1" >/dev/null 2>"$W/err$1" || { cat "$W/err$1"; exit 1; }
}
ceiling() {
    solo 0 & solo 1 & wait
    for c in 0 1; do tail -1 "$W/solo$c/log.csv" | awk -F, -v s="$STEPS" '{ printf "%.4f\n", $8 / s }'; done |
        sort -g | tail -1
}
printf '%-6s %-34s %10s %10s %14s\n' round config s/step img/s "load (1 min)"
ones=() twos=() ceils=()
for r in $(seq 1 "$ROUNDS"); do
    for cfg in 1 2 3; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        if [ "$cfg" = 1 ]; then
            core=$(((r - 1) % 2)) # the cores may differ in speed: the one rank takes each in turn
            t=$(run 1 "$W/b$((2 * BATCH)).netg" "$core"); ones+=("$t")
            name="1 rank x batch $((2 * BATCH)), core $core"
        elif [ "$cfg" = 2 ]; then
            t=$(run 2 "$W/b$BATCH.netg"); twos+=("$t")
            name="2 ranks x batch $BATCH"
        else
            t=$(ceiling); ceils+=("$t")
            name="ceiling: 2 x batch $BATCH, no MPI"
        fi
        printf '%-6s %-34s %10s %10.1f %14s\n' "$r" "$name" "$t" "$(awk -v t="$t" -v b=$((2 * BATCH)) 'BEGIN { print b / t }')" "$load"
    done
done
# the machine's speed drifts between runs (a shared host): each round's ratio
# compares runs made one after the other; the median of those, and the ratio
# of the means and of the fastest runs (noise only adds time)
summary() { # what, numerators, denominators
    printf '%s\n%s\n' "$2" "$3" | awk -v n="$ROUNDS" -v what="$1" 'NR == 1 { for (i = 1; i <= n; i++) a[i] = $i; next }
    { for (i = 1; i <= n; i++) { b = $i; sa += a[i]; sb += b; r[i] = a[i] / b
                                 if (i == 1 || a[i] < ma) ma = a[i]; if (i == 1 || b < mb) mb = b }
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
      med = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
      printf "%s: median of the rounds %.2f (%.2f..%.2f), ratio of the means %.2f, of the fastest runs %.2f\n",
             what, med, r[1], r[n], sa / sb, ma / mb }'
}
summary "2 ranks / 1 rank throughput (goal >= 1.8)" "${ones[*]}" "${twos[*]}"
summary "the ceiling without communication / 1 rank" "${ones[*]}" "${ceils[*]}"
summary "2 ranks / the ceiling" "${ceils[*]}" "${twos[*]}"
echo "uptime at the end: $(uptime)"
