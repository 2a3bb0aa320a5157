#!/usr/bin/env bash
# bench/dataset_open.sh — what checking each mask's size against its image's
# from their headers (PNG IHDR, JPEG SOF) adds to opening a dataset (issue 24).
#
#   bench/dataset_open.sh OLD_NETRUN NEW_NETRUN [COUNT [SIZE]]
#
# Makes a gen_data set of COUNT (default 400, the quickstart's) images of
# SIZE (64), compiles a small U-Net, and times `netrun train --init MISSING`,
# which opens the dataset and stops at the missing checkpoint, ROUNDS (default
# 20) times each binary, alternating; prints the median wall time of each and
# the difference per sample.  Needs build/ (netc, gen_data).
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 count=${3:-400} size=${4:-64}
ROUNDS=${ROUNDS:-20}
work=$(mktemp -d /tmp/dataset_open.XXXXXX)
trap 'rm -rf "$work"' EXIT
build/examples/gen_data --out "$work/d" --count "$count" --size "$size" --classes 32 --seed 1 >/dev/null
build/compiler/netc models/unet.net -D BASE=4 -D SIZE="$size" -D DEPTH=2 -D BATCH=4 -o "$work/u.netg"
for r in $(seq 1 "$ROUNDS"); do
    for which in old new; do
        s=$(date +%s%N)
        "${!which}" train "$work/u.netg" --data "$work/d" --init "$work/missing" --out "$work/run" --quiet 2>/dev/null || true
        echo "$which $(( ($(date +%s%N) - s) / 1000 ))"
    done
done > "$work/times"
med() { awk -v w="$1" '$1 == w {print $2}' "$work/times" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
o=$(med old) n=$(med new)
echo "old: median $o us, new: median $n us; $(( n - o )) us more for $count samples ($(( (n - o) / count )) us each); load average $(cut -d' ' -f1 /proc/loadavg)"
