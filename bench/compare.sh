#!/usr/bin/env bash
# bench/compare.sh — netrun against PyTorch, side by side, on the U-Net of models/unet.net
# (configurations 1-4) and the recipe network of models/unet_nn.net (configuration 5).
#
# Builds netc and netrun (ninja in $BUILD), compiles one graph per configuration, checks that
# PyTorch's network (bench/torch_bench.py) has netrun's parameter count, measures this machine's
# fp32 FMA ceiling (bench/fma_peak.c), then for each configuration and mode runs
# `netrun bench` and torch_bench.py alternately (netrun, torch, netrun, torch, ... REPEAT
# rounds), each under /usr/bin/time -v, and prints one table (also written to
# $OUT/compare.md): median seconds per step of each, PyTorch / netrun (> 1: netrun is faster),
# peak RSS of each, netrun's GFLOP/s and its fraction of the FMA ceiling, and the CPU load of
# other processes during the runs (the cores are shared; see docs/benchmarks.md).
#
#   bench/compare.sh                  # everything: ~15-20 min on 2 idle cores, longer on busy ones
#   CONFIGS="3 4" MODES=infer REPEAT=1 bench/compare.sh
#
# Configurations (netc -D overrides of models/unet.net; DEPTH, CLASSES, DROPOUT and LR stay at
# the file's values):
#   1: BASE=64 SIZE=256 BATCH=1 (the file as is)   2: BASE=64 SIZE=256 BATCH=4
#   3: BASE=16 SIZE=128 BATCH=8                    4: BASE=8 SIZE=64 BATCH=16
#   5: models/unet_nn.net at BASE=16 SIZE=128 BATCH=8 (DEPTH 4, CLASSES 32, Adam at its LR, no
#      clipping), with -D DS=false -D LOSS=ce: PyTorch's build (torch_bench.py --net unet_nn)
#      has no deep supervision and plain cross-entropy
# Modes: train (forward, loss, backward, Adam update) and infer (forward only, no gradients).
#
# Environment: CONFIGS (default "1 2 3 4 5"), MODES (default "train infer"), REPEAT (rounds,
# default 3), STEPS (timed steps per run; default per configuration: 5, 2, 10, 20), WARMUP
# (untimed steps before the timed ones, both programs, default 2), THREADS (default 2), BUILD
# (default build-bench), OUT (default $BUILD/compare), PYTHON (default /usr/bin/python3),
# NETRUN (default $BUILD/runtime/netrun), NO_BUILD=1 (skip ninja), WAIT_IDLE (before each run,
# wait up to this many seconds for a second in which other processes use under 0.1 cores;
# default 10, 0: never wait), PRECISION (f32, the default, or bf16: netrun with --set
# precision=bf16, PyTorch under torch.autocast("cpu", dtype=torch.bfloat16)).
#
# A round's figure is the program's own median over its timed steps (netrun bench --json
# "median_s"; torch_bench.py "median_s"); the table gives the median over the rounds, the
# largest peak RSS of the rounds, and the largest load of other processes seen in a run.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIGS=${CONFIGS:-"1 2 3 4 5"}
MODES=${MODES:-"train infer"}
REPEAT=${REPEAT:-3}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-2}
WAIT_IDLE=${WAIT_IDLE:-10}
PRECISION=${PRECISION:-f32}
BUILD=${BUILD:-build-bench}
OUT=${OUT:-$BUILD/compare}
PYTHON=${PYTHON:-/usr/bin/python3}
NETRUN=${NETRUN:-$BUILD/runtime/netrun}
NETC=$BUILD/compiler/netc
TIME=/usr/bin/time
RUNS=$OUT/runs
HZ=$(getconf CLK_TCK)

declare -A DEFS=([1]="BASE=64 SIZE=256 BATCH=1" [2]="BASE=64 SIZE=256 BATCH=4"
                 [3]="BASE=16 SIZE=128 BATCH=8" [4]="BASE=8 SIZE=64 BATCH=16" [5]="BASE=16 SIZE=128 BATCH=8")
declare -A DEFAULT_STEPS=([1]=5 [2]=2 [3]=10 [4]=20 [5]=10)
# the model file of each configuration, and the netc flags that make it the network and loss
# torch_bench.py builds
model() { [ "$1" = 5 ] && echo models/unet_nn.net || echo models/unet.net; }
netc_flags() { [ "$1" = 5 ] && echo "-D DS=false -D LOSS=ce" || echo "-D TAU=0 -D WEIGHTS=balanced"; }

die() { echo "compare.sh: $*" >&2; exit 1; }
for c in $CONFIGS; do [ -n "${DEFS[$c]:-}" ] || die "no configuration '$c' (1..5)"; done
for m in $MODES; do case $m in train|infer) ;; *) die "no mode '$m' (train, infer)" ;; esac; done
case $PRECISION in f32|bf16) ;; *) die "no precision '$PRECISION' (f32, bf16)" ;; esac
[ -x "$TIME" ] || die "$TIME missing (apt-get install time)"
"$PYTHON" -c 'import torch' 2>/dev/null ||
    die "$PYTHON lacks torch (apt-get install -y python3-torch python3-numpy python3-pil)"

if [ "${NO_BUILD:-0}" != 1 ]; then
    [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null
    log=$(ninja -C "$BUILD" compiler/netc runtime/netrun 2>&1) ||
        { echo "$log" | tail -20 >&2; die "build failed (NO_BUILD=1 uses the binaries in $BUILD as they are)"; }
fi
mkdir -p "$RUNS"
cc -O2 -std=c11 -pthread bench/fma_peak.c -o "$OUT/fma_peak"

for k in BASE SIZE BATCH DEPTH CLASSES DROPOUT LR; do
    grep -qE "^const $k *=" models/unet.net || die "models/unet.net: no const $k"
done
for k in BASE SIZE BATCH DEPTH CLASSES LR DS LOSS OPT; do
    grep -qE "^const $k *=" models/unet_nn.net || die "models/unet_nn.net: no const $k"
done
grep -qE '^const OPT *= *adam' models/unet_nn.net || die "models/unet_nn.net: OPT is not adam (torch_bench.py has Adam)"
# value NAME CONFIG: the -D override of NAME in CONFIG, or the const's value in its model file
value() {
    local d
    for d in ${DEFS[$2]}; do [ "${d%%=*}" = "$1" ] && { echo "${d#*=}"; return; }; done
    sed -nE "s/^const $1 *= *([^ #]+).*/\1/p" "$(model "$2")"
}
# the optimizer: torch_bench.py has Adam; the gradient clip comes from the minimize line
minimize=$(grep -E '^minimize ' models/unet.net) || die "models/unet.net: no minimize line"
[[ $minimize == *" with adam("* ]] || die "models/unet.net: '$minimize' — torch_bench.py has Adam only"
ADAM_CLIP=$(sed -nE 's/.*[(,] *clip *= *([0-9.eE+-]+).*/\1/p' <<< "$minimize")
ADAM_CLIP=${ADAM_CLIP:-0}
graph() { echo "$OUT/$(basename "$(model "$1")" .net)-base$(value BASE "$1")-size$(value SIZE "$1")-batch$(value BATCH "$1").netg"; }
# torch_cmd CONFIG MODE STEPS: sets CMD to the torch_bench.py command line
torch_cmd() {
    CMD=("$PYTHON" bench/torch_bench.py --mode "$2" --steps "$3" --warmup "$WARMUP" --threads "$THREADS"
         --base "$(value BASE "$1")" --size "$(value SIZE "$1")" --batch "$(value BATCH "$1")"
         --depth "$(value DEPTH "$1")" --classes "$(value CLASSES "$1")" --lr "$(value LR "$1")"
         --precision "$PRECISION")
    if [ "$1" = 5 ]; then
        CMD+=(--net unet_nn --clip 0)
    else
        CMD+=(--dropout "$(value DROPOUT "$1")" --clip "$ADAM_CLIP")
    fi
}
# jget FILE KEY...: the values of the keys in the JSON object of FILE, tab-separated
jget() {
    "$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
miss = [k for k in sys.argv[2:] if k not in d]
if miss:
    sys.exit(f"{sys.argv[1]}: no {miss} in the JSON object")
print("\t".join(str(d[k]) for k in sys.argv[2:]))' "$@"
}
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
tv() { awk -F': ' -v k="$2" 'index($0, k) { print $2; exit }' "$1"; }   # a /usr/bin/time -v field
wall_s() { tv "$1" "Elapsed (wall clock)" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# wait_idle: up to WAIT_IDLE seconds for a second in which other processes use < 0.1 cores
wait_idle() {
    local t0=$SECONDS b0
    while [ $((SECONDS - t0)) -lt "$WAIT_IDLE" ]; do
        b0=$(busy_jiffies)
        sleep 1
        if [ $(( $(busy_jiffies) - b0 )) -lt $((HZ / 10)) ]; then return; fi
    done
}

# measure NAME CMD...: runs CMD without the OpenBLAS variables under /usr/bin/time -v; stdout
# to $RUNS/NAME.json, stderr to NAME.err; prints "peak-RSS-MiB wall-s other-cores", where
# other-cores = CPU seconds of all other processes during the run / its wall time.
measure() {
    local name=$1 b0 b1 wall own
    shift
    wait_idle
    b0=$(busy_jiffies)
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$TIME" -v -o "$RUNS/$name.time" "$@" \
        > "$RUNS/$name.json" 2> "$RUNS/$name.err" ||
        { tail -20 "$RUNS/$name.err" >&2; die "$name failed: $*"; }
    b1=$(busy_jiffies)
    wall=$(wall_s "$RUNS/$name.time")
    own=$(awk -v u="$(tv "$RUNS/$name.time" "User time")" -v s="$(tv "$RUNS/$name.time" "System time")" \
        'BEGIN { print u + s }')
    awk -v r="$(tv "$RUNS/$name.time" "Maximum resident set size")" -v w="$wall" -v o="$own" \
        -v b="$(( b1 - b0 ))" -v hz="$HZ" \
        'BEGIN { x = (b / hz - o) / w; printf "%.0f %.2f %.2f\n", r / 1024, w, (x > 0 ? x : 0) }'
}

wait_idle
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$OUT/fma_peak" "$THREADS" > "$OUT/fma_peak.txt"

{
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
         "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "tree: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- compiler runtime 2>/dev/null ||
         echo ' + uncommitted changes in compiler/ or runtime/')"
    echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>}" \
         "here; both unset (env -u) for every program measured"
    echo "torch $("$PYTHON" -c 'import torch; print(torch.__version__)') ($PYTHON); threads: $THREADS each" \
         "(netrun --threads, torch.set_num_threads); rounds: $REPEAT; warm-up steps: $WARMUP;" \
         "precision: $PRECISION"
} | tee "$OUT/header.txt"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# the graphs, and the parameter count of both sides (before any timing)
for c in $CONFIGS; do
    g=$(graph "$c")
    defs=()
    for d in ${DEFS[$c]}; do defs+=(-D "$d"); done
    # the loss torch_bench.py computes: for unet.net balanced class-weighted CE (its default is
    # logit-adjusted), for unet_nn.net plain CE without deep supervision
    # shellcheck disable=SC2046
    "$NETC" "$(model "$c")" $(netc_flags "$c") "${defs[@]}" -o "$g"
    np=$("$NETRUN" info "$g" | sed -nE 's/^parameters: ([0-9]+) .*/\1/p')
    torch_cmd "$c" train 0
    "${CMD[@]}" > "$RUNS/params-$c.json"
    tp=$(jget "$RUNS/params-$c.json" params)
    if [ -z "$np" ] || [ "$np" != "$tp" ]; then
        die "configuration $c (${DEFS[$c]}): netrun has ${np:-?} parameters, PyTorch $tp — not the same network"
    fi
    echo "configuration $c (${DEFS[$c]}): $np parameters in both"
done

# the runs; one line per run in runs.tsv
printf 'config\tmode\tround\ttool\tmedian_s\tsteps\tpeak_rss_mib\twall_s\tother_cores\tgflops\tflops\n' \
    > "$OUT/runs.tsv"
for c in $CONFIGS; do
    steps=${STEPS:-${DEFAULT_STEPS[$c]}}
    for m in $MODES; do
        for r in $(seq "$REPEAT"); do
            for tool in netrun torch; do
                name=c$c-$m-$r-$tool
                echo "configuration $c ($(echo "${DEFS[$c]}" | tr ' ' ,)), $m, round $r/$REPEAT: $tool..." >&2
                if [ $tool = netrun ]; then
                    res=$(measure "$name" "$NETRUN" bench "$(graph "$c")" --entry "$m" --steps "$steps" \
                        --warmup "$WARMUP" --threads "$THREADS" --set precision="$PRECISION" --json)
                else
                    torch_cmd "$c" "$m" "$steps"
                    res=$(measure "$name" "${CMD[@]}")
                fi
                read -r rss wall other <<< "$res"
                fields=$(jget "$RUNS/$name.json" median_s steps gflops flops)
                IFS=$'\t' read -r med n gflops flops <<< "$fields"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$m" "$r" "$tool" "$med" "$n" \
                    "$rss" "$wall" "$other" "$gflops" "$flops" >> "$OUT/runs.tsv"
            done
        done
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# col CONFIG MODE TOOL FIELD: that field of every round
col() {
    awk -F'\t' -v c="$1" -v m="$2" -v t="$3" -v f="$4" '
        NR == 1 { for (i = 1; i <= NF; i++) k[$i] = i; next }
        $1 == c && $2 == m && $4 == t { print $k[f] }' "$OUT/runs.tsv"
}
maxof() { sort -g | tail -1; }
ceil_of() { awk -v isa="$1" -v t="$THREADS" '$1 == isa && $3 == t { print $5 }' "$OUT/fma_peak.txt"; }
avx512=$(ceil_of avx512)
avx2=$(ceil_of avx2)
ceiling=${avx512:-$avx2}
ceiling_isa=$([ -n "$avx512" ] && echo AVX-512 || echo AVX2)

{
    echo "# netrun vs PyTorch: models/unet.net (configurations 1-4), models/unet_nn.net (5)"
    echo
    sed 's/^/- /' "$OUT/header.txt"
    echo "- fp32 FMA ceiling (bench/fma_peak.c):" \
         "$(awk '{ printf "%s%s %s thread(s) %.0f GFLOP/s", s, $1, $3, $5; s = ", " }' "$OUT/fma_peak.txt");" \
         "fractions below: of $ceiling_isa on $THREADS threads ($ceiling GFLOP/s)"
    echo
    echo "| config | mode | steps × rounds | netrun s/step | PyTorch s/step | PyTorch / netrun |" \
         "netrun peak RSS MiB | PyTorch peak RSS MiB | netrun GFLOP/s | of FMA peak | other load (cores) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for c in $CONFIGS; do
        for m in $MODES; do
            nt=$(col "$c" "$m" netrun median_s | median)
            tt=$(col "$c" "$m" torch median_s | median)
            ng=$(col "$c" "$m" netrun gflops | median)
            other=$( (col "$c" "$m" netrun other_cores; col "$c" "$m" torch other_cores) | maxof)
            awk -v c="$c ($(echo "${DEFS[$c]}" | tr ' ' ,))" -v m="$m" -v s="$(col "$c" "$m" netrun steps | head -1)" \
                -v n="$REPEAT" -v nt="$nt" -v tt="$tt" -v nr="$(col "$c" "$m" netrun peak_rss_mib | maxof)" \
                -v tr="$(col "$c" "$m" torch peak_rss_mib | maxof)" -v ng="$ng" -v cl="$ceiling" -v o="$other" \
                'BEGIN { printf "| %s | %s | %s × %s | %.3f | %.3f | %.2f | %d | %d | %.1f | %.3f | %.2f |\n",
                         c, m, s, n, nt, tt, tt / nt, nr, tr, ng, ng / cl, o }'
        done
    done
    echo
    echo "s/step: median over the rounds of each run's median step time; peak RSS: largest" \
         "\"Maximum resident set size\" of /usr/bin/time -v over the rounds (whole process);" \
         "GFLOP/s: median of netrun bench's figure; other load: the most CPU (in cores) that" \
         "other processes used during any run of the row (0 = the machine was ours)."
    echo
    echo "Each round: median step time (s) of netrun / PyTorch, other load (cores) during the two runs;" \
         "flops per step as each counts them:"
    echo
    for c in $CONFIGS; do
        for m in $MODES; do
            echo "- $c $m: $(paste <(col "$c" "$m" netrun median_s) <(col "$c" "$m" torch median_s) \
                                   <(col "$c" "$m" netrun other_cores) <(col "$c" "$m" torch other_cores) |
                             awk -F'\t' '{ printf "%s%.3f / %.3f (%.2f, %.2f)", (NR > 1 ? "; " : ""), $1, $2, $3, $4 }');" \
                 "flops: netrun $(col "$c" "$m" netrun flops | head -1), torch_bench.py $(col "$c" "$m" torch flops | head -1)"
        done
    done
} > "$OUT/compare.md"
echo
cat "$OUT/compare.md"
echo
echo "written: $OUT/compare.md, $OUT/runs.tsv (one line per run), $RUNS/ (JSON, /usr/bin/time -v reports)"
