#!/usr/bin/env bash
# bench/norm_fusion.sh — the recipe network's training step, two builds alternating: the share of
# the step in the memory-bound ops (everything but the convolutions' three kernels) and in the
# normalization and activation ops, from `netrun bench --json`'s per-op profile.
#
#   bench/norm_fusion.sh OLD_BUILD NEW_BUILD     # e.g. a build of main before the fusion, build
#   ROUNDS=5 STEPS=10 bench/norm_fusion.sh ../main/build build
#
# Each build's netc compiles models/unet_nn.net with DEFS (default "BASE=16 SIZE=128 BATCH=8
# CLASSES=32": the file's recipe otherwise, deep supervision and logit-adjusted CE on), and its
# netrun runs `bench` on it: OLD, NEW, OLD, NEW, ... ROUNDS rounds (default 3) of STEPS timed
# steps (default 5) after WARMUP (default 1), THREADS threads (default 2), OPENBLAS_* unset.
# Prints one line per run and, per build, the median and the best of the runs' median step times
# and the median shares.  The cores are shared: see the load the header and the footer print.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-5}
WARMUP=${WARMUP:-1}
THREADS=${THREADS:-2}
DEFS=${DEFS:-"BASE=16 SIZE=128 BATCH=8 CLASSES=32"}
PYTHON=${PYTHON:-/usr/bin/python3}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

defs=()
for d in $DEFS; do defs+=(-D "$d"); done
for side in old new; do
    b=$([ $side = old ] && echo "$1" || echo "$2")
    if [ ! -x "$b/compiler/netc" ] || [ ! -x "$b/runtime/netrun" ]; then
        echo "norm_fusion.sh: $b: no netc or netrun" >&2
        exit 1
    fi
    "$b/compiler/netc" models/unet_nn.net "${defs[@]}" -o "$OUT/$side.netg"
done
echo "models/unet_nn.net $DEFS, train entry; $ROUNDS rounds x $STEPS steps, $THREADS threads;" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
    for side in old new; do
        b=$([ $side = old ] && echo "$1" || echo "$2")
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$b/runtime/netrun" bench "$OUT/$side.netg" \
            --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS" --json > "$OUT/$side-$r.json"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PYTHON" - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
CONV = {"conv2d", "conv2d_bwd_data", "conv2d_bwd_filter", "conv_transpose2d"}
NORM = ("group_norm", "leaky_relu")
for side in ("old", "new"):
    runs = [json.load(open(f"{out}/{side}-{r}.json")) for r in range(1, rounds + 1)]
    med, mem, norm = [], [], []
    for r, d in enumerate(runs, 1):
        total = sum(o["s_per_step"] for o in d["ops"])
        m = sum(o["s_per_step"] for o in d["ops"] if o["op"] not in CONV) / total
        n = sum(o["s_per_step"] for o in d["ops"] if o["op"].startswith(NORM)) / total
        med.append(d["median_s"]); mem.append(m); norm.append(n)
        top = ", ".join(f'{o["op"]} {o["share"]:.1%}' for o in d["ops"][:6])
        print(f"{side} round {r}: step {d['median_s']:.3f} s; memory-bound {m:.1%}, norm+act {n:.1%}; {top}")
    print(f"{side}: step median {statistics.median(med):.3f} s, best {min(med):.3f} s; memory-bound ops "
          f"{statistics.median(mem):.1%} of the op time, norm and activation ops {statistics.median(norm):.1%}")
PY
