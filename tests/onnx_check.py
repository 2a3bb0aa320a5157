"""onnx_check.py — the Python side of tests/e2e_export.sh (Debian's
python3-onnx, numpy and PIL):
  check MODEL.onnx...         onnx.checker.check_model(full_check=True) and
                              the opset, IR version and manifest of each;
                              writes MODEL.onnx.json (the manifest)
  decode IMAGE OUT.npy        the image's 8-bit pixels, (H,W) or (H,W,3)
  probs A.npy B.npy TOL       max |A - B| <= TOL (same shape)
  masks MASK.png B.npy SHARE  the PNG's values equal B's on >= SHARE of pixels
Exit 0 and one line per check, or 1 with the reason."""
import json
import sys

import numpy as np


def check(paths):
    import onnx
    for p in paths:
        m = onnx.load(p)
        onnx.checker.check_model(m, full_check=True)
        opset = {o.domain: o.version for o in m.opset_import}
        assert m.ir_version == 8 and opset.get("") == 17, (m.ir_version, opset)
        meta = {e.key: e.value for e in m.metadata_props}
        man = json.loads(meta["netrun"])
        for key in ("input", "window", "tta", "prior_correction", "classes", "palette", "netrun_version",
                    "model_file", "postprocessing", "temperature"):
            assert key in man, key
        assert [i.name for i in m.graph.input] == [man["input"]["name"]]
        assert [o.name for o in m.graph.output] == [man["output"]["name"]]
        with open(p + ".json", "w") as f:
            json.dump(man, f)
        print(f"{p}: valid, {len(m.graph.node)} nodes, opset 17, IR 8")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "check":
        check(args)
    elif cmd == "decode":
        from PIL import Image
        im = Image.open(args[0])
        im = im.convert("L" if im.mode in ("L", "P", "I;16", "I") else "RGB")
        np.save(args[1], np.asarray(im, dtype=np.uint8))
    elif cmd == "probs":
        a, b = np.load(args[0]), np.load(args[1])
        assert a.dtype == np.float32 and a.shape == b.shape, (a.dtype, a.shape, b.shape)
        d = float(np.abs(a - b).max())
        print(f"{args[0]} vs {args[1]}: shape {a.shape}, max abs diff {d:.3g}")
        if not d <= float(args[2]):
            sys.exit(1)
    elif cmd == "masks":
        from PIL import Image
        a, b = np.asarray(Image.open(args[0])), np.load(args[1])
        share = float((a == b).mean()) if a.shape == b.shape else 0.0
        print(f"{args[0]} vs {args[1]}: {share * 100:.3f}% of {a.size} pixels agree")
        if not share >= float(args[2]):
            sys.exit(1)
    else:
        sys.exit(f"onnx_check.py: unknown command {cmd}")


main()
