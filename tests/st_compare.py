#!/usr/bin/env python3
# st_compare.py A.safetensors B.safetensors [REL] — compares two netrun
# checkpoints (Python's standard library only): every F32 tensor of A must
# be in B with its shape, and ||a - b|| <= REL * ||a|| per tensor (the
# Euclidean norms; default REL 1e-5; REL 0 asks for the same bits); the
# metadata step must agree.  Prints the largest relative difference; exit 0
# when they match, 1 when not.
import json
import struct
import sys
from array import array


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    head = json.loads(raw[8:8 + n])
    meta = head.pop("__metadata__", {})
    body = raw[8 + n:]
    out = {}
    for name, t in head.items():
        if t["dtype"] != "F32":
            continue
        a = array("f")
        a.frombytes(body[t["data_offsets"][0]:t["data_offsets"][1]])
        if sys.byteorder != "little":
            a.byteswap()
        out[name] = (tuple(t["shape"]), a)
    return meta, out


def main():
    if len(sys.argv) < 3:
        print("usage: st_compare.py A.safetensors B.safetensors [REL]", file=sys.stderr)
        return 2
    rel = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
    ma, a = load(sys.argv[1])
    mb, b = load(sys.argv[2])
    bad = []
    if ma.get("step") != mb.get("step"):
        bad.append("step %s vs %s" % (ma.get("step"), mb.get("step")))
    worst, worst_name = 0.0, ""
    for name, (shape, x) in a.items():
        if name not in b:
            bad.append("%s: missing in %s" % (name, sys.argv[2]))
            continue
        shape_b, y = b[name]
        if shape != shape_b:
            bad.append("%s: shape %s vs %s" % (name, shape, shape_b))
            continue
        norm = sum(v * v for v in x) ** 0.5
        dist = sum((u - v) * (u - v) for u, v in zip(x, y)) ** 0.5
        diff = dist / norm if norm > 0 else dist
        if rel == 0 and x.tobytes() != y.tobytes():
            diff = max(diff, 1e-300)
        if diff != diff or diff > rel:
            bad.append("%s: relative difference %.3g" % (name, diff))
        if diff > worst or diff != diff:
            worst, worst_name = diff, name
    print("%d tensors, largest relative difference %.3g (%s)" % (len(a), worst, worst_name))
    for line in bad[:10]:
        print("  " + line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
