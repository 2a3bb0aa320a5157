#!/usr/bin/env bash
# bench/mpi_scaling.sh — data-parallel throughput (runtime/dist.c): the U-Net
# of models/unet.net trained by 2 ranks of 1 thread (batch B each) against 1
# rank of 1 thread (batch 2B), the same global batch, the same launcher and
# binding (mpirun --bind-to core: each rank on a core of its own; the data
# loader's thread shares it), OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset
# for both.  Prints s/step, images/s, the ratio (goal >= 1.8) and the load
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

# run RANKS GRAPH: seconds per step of the training loop (log.csv's seconds
# column, from the loop's start; the first step's allocations included)
run() {
    rm -rf "$W/out"
    mpirun --bind-to "$BIND" --map-by core -np "$1" "$NETRUN" train "$2" --data "$W/data" --steps "$STEPS" \
        --threads 1 --no-shuffle --quiet --out "$W/out" >/dev/null 2>"$W/err" || { cat "$W/err"; exit 1; }
    tail -1 "$W/out/log.csv" | awk -F, -v s="$STEPS" '{ printf "%.4f", $8 / s }'
}
printf '%-6s %-22s %10s %10s %14s\n' round config s/step img/s "load (1 min)"
ones=() twos=()
for r in $(seq 1 "$ROUNDS"); do
    for cfg in 1 2; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        if [ "$cfg" = 1 ]; then
            t=$(run 1 "$W/b$((2 * BATCH)).netg"); ones+=("$t")
            name="1 rank x batch $((2 * BATCH))"
        else
            t=$(run 2 "$W/b$BATCH.netg"); twos+=("$t")
            name="2 ranks x batch $BATCH"
        fi
        printf '%-6s %-22s %10s %10.1f %14s\n' "$r" "$name" "$t" "$(awk -v t="$t" -v b=$((2 * BATCH)) 'BEGIN { print b / t }')" "$load"
    done
done
# the machine's speed drifts between runs (a shared host): each round's ratio
# compares two runs made one after the other; the median of those, and the
# ratio of the means and of the fastest runs (noise only adds time)
printf '%s %s\n' "${ones[*]}" "${twos[*]}" | awk -v n="$ROUNDS" '{
    for (i = 1; i <= n; i++) { a = $i; b = $(n + i); sa += a; sb += b; r[i] = a / b
                               if (i == 1 || a < ma) ma = a; if (i == 1 || b < mb) mb = b }
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
    med = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
    printf "mean s/step: 1 rank %.4f, 2 ranks %.4f; throughput ratio of the means %.2f, of the fastest runs %.2f, " \
           "median of the rounds %.2f (%.2f..%.2f) (goal >= 1.8)\n", sa / n, sb / n, sa / sb, ma / mb, med, r[1], r[n] }'
echo "uptime at the end: $(uptime)"
