#!/usr/bin/python3
"""scipy_surface.py TEST_SURFACE — runtime/jobs/surface.c's HD95, NSD and
boundary IoU against their transcription with scipy (skipped, exit 77,
without scipy), on random and structured mask pairs, to 1e-3 relative.

The transcription is MONAI's (metrics/utils.py get_mask_edges and
get_surface_distance; hausdorff_distance.py and surface_dice.py): edges =
mask ^ scipy.ndimage.binary_erosion(mask) (the 4-connected cross, outside
background), distances from scipy.ndimage.distance_transform_edt, the 95th
percentile numpy's (linear); and Cheng et al.'s boundary_iou/utils
mask_to_boundary, its cv2.erode on the mask padded by one zero pixel
written as scipy's binary_erosion with a 3x3 square (border 1, as cv2's
default border)."""
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from scipy import ndimage
except ImportError:
    print("SKIP: /usr/bin/python3 cannot import numpy and scipy (Debian: apt-get install python3-scipy)")
    sys.exit(77)

TAU = 2.0


def edges(m):
    return m ^ ndimage.binary_erosion(m)


def directed(a_edges, b_edges):
    """Distances from each pixel of a_edges to the nearest pixel of b_edges."""
    return ndimage.distance_transform_edt(~b_edges)[a_edges]


def boundary(m):
    h, w = m.shape
    d = max(1, int(round(0.02 * np.sqrt(h ** 2 + w ** 2))))
    padded = np.pad(m, 1)
    eroded = ndimage.binary_erosion(padded, structure=np.ones((3, 3), bool), iterations=d, border_value=1)
    return m & ~eroded[1:h + 1, 1:w + 1]


def reference(t, p):
    if not t.any() and not p.any():
        return float("nan"), float("nan"), float("nan")
    bt, bp = boundary(t), boundary(p)
    biou = (bt & bp).sum() / (bt | bp).sum()
    if not t.any() or not p.any():
        return float("nan"), 0.0, biou
    et, ep = edges(t), edges(p)
    d_pt, d_tp = directed(ep, et), directed(et, ep)
    hd95 = max(np.percentile(d_pt, 95), np.percentile(d_tp, 95))
    nsd = ((d_pt <= TAU).sum() + (d_tp <= TAU).sum()) / (len(d_pt) + len(d_tp))
    return hd95, nsd, biou


def pairs():
    """Random and structured (truth, prediction) masks of several sizes."""
    rng = np.random.default_rng(7)
    out = []
    for h, w in [(17, 23), (64, 64), (75, 100), (96, 61)]:
        yy, xx = np.mgrid[0:h, 0:w]
        for trial in range(6):
            # noise at several densities
            dens = [0.02, 0.1, 0.5, 0.9, 0.98, 0.3][trial]
            out.append((rng.random((h, w)) < dens, rng.random((h, w)) < dens))
            # discs and ellipses, shifted and resized
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            r = rng.uniform(2, max(h, w) / 2)
            t = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            p = ((yy - cy - rng.normal(0, 3)) / rng.uniform(0.6, 1.4)) ** 2 + (xx - cx - rng.normal(0, 3)) ** 2 < r * r
            out.append((t, p))
            # a disc against its noisy copy, and a rectangle touching the border
            out.append((t, t ^ (rng.random((h, w)) < 0.03)))
            q = np.zeros((h, w), bool)
            q[: rng.integers(1, h), rng.integers(0, w // 2):] = True
            out.append((q, t))
            # several small blobs (small structures), and one pixel
            b = ndimage.binary_dilation(rng.random((h, w)) < 0.01, iterations=int(rng.integers(0, 3)))
            out.append((b, ndimage.binary_dilation(b, iterations=1) & (rng.random((h, w)) < 0.9)))
            one = np.zeros((h, w), bool)
            one[rng.integers(0, h), rng.integers(0, w)] = True
            out.append((one, b))
        out.append((np.zeros((h, w), bool), np.zeros((h, w), bool)))
        out.append((np.zeros((h, w), bool), rng.random((h, w)) < 0.1))
        out.append((np.ones((h, w), bool), np.ones((h, w), bool)))
    return out


def close(a, b):
    if np.isnan(a) or np.isnan(b):
        return np.isnan(a) and np.isnan(b)
    return abs(a - b) <= 1e-3 * max(abs(a), abs(b)) + 1e-12


def main():
    ps = pairs()
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        for t, p in ps:
            f.write(struct.pack("<ii", *t.shape))
            f.write(t.astype(np.uint8).tobytes())
            f.write(p.astype(np.uint8).tobytes())
        path = f.name
    try:
        got = subprocess.run([sys.argv[1], "--pairs", path, str(TAU)], check=True, capture_output=True,
                             text=True).stdout.split("\n")
    finally:
        os.unlink(path)
    bad = 0
    for i, (t, p) in enumerate(ps):
        want = reference(t, p)
        have = [float(v) for v in got[i].split()]
        for name, a, b in zip(("hd95", "nsd", "boundary_iou"), have, want):
            if not close(a, b):
                bad += 1
                print(f"FAIL - pair {i} {t.shape}: {name} {a!r}, scipy {b!r}")
    print(f"{'ok' if bad == 0 else 'FAIL'} - {len(ps)} mask pairs: HD95, NSD ({TAU:g} px) and boundary IoU "
          f"equal the scipy transcription to 1e-3 relative ({bad} differ)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
