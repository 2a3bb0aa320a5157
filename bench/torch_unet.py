#!/usr/bin/python3
"""models/unet.net at full size, in PyTorch, for the peak-RSS / time-per-step comparison.

Run with Debian's interpreter (python3-torch, python3-pil), e.g.
    /usr/bin/python3 bench/torch_unet.py --data DIR --batch 4 --steps 3

The network, loss and optimizer are those of models/unet.net with its defaults:
base 64, 1x256x256 input, 32 classes, depth 4 (64..1024 filters), SpatialDropout2D(0.5)
(nn.Dropout2d) after the encoder blocks of the two deepest levels, decoder levels of
nearest upsample + 2x2 conv ('same' as TensorFlow: pad 0 top/left, 1 bottom/right) + ReLU,
concat(skip, up), two 3x3 ReLU convs; head 3x3 conv -> 32 + ReLU, 1x1 conv -> 32.
Loss: CrossEntropyLoss(weight=balanced, ignore_index=255) with the weights netrun computes
(w_c = n_pixels / (K * count_c) over the labelled pixels of --data, 0 for absent classes).
Optimizer: Adam(lr=1e-4), gradients clipped by value to 0.01 before each step.

Prints peak RSS (getrusage RUSAGE_SELF ru_maxrss, KiB), wall seconds per step and CPU seconds
per step (user + system of all threads), both excluding the first step (the first one
allocates the caches and the Adam state).
"""
import argparse
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image


def block(cin, ch):
    return nn.Sequential(nn.Conv2d(cin, ch, 3, padding=1), nn.ReLU(inplace=False),
                         nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(inplace=False))


class Level(nn.Module):
    """unet.net's level(x, ch, d): encoder block, deeper levels, decoder block."""

    def __init__(self, cin, ch, d, depth, dropout):
        super().__init__()
        self.enc = block(cin, ch)
        self.drop = nn.Dropout2d(dropout) if d >= depth - 1 and depth > 0 and dropout > 0 else None
        self.last = d == depth
        if not self.last:
            self.deeper = Level(ch, ch * 2, d + 1, depth, dropout)
            self.upconv = nn.Conv2d(ch * 2, ch, 2)        # 'same' via F.pad below
            self.dec = block(ch * 2, ch)                   # concat(skip: ch, up: ch)

    def forward(self, x):
        enc = self.enc(x)
        if self.drop is not None:
            enc = self.drop(enc)
        if self.last:
            return enc
        deeper = self.deeper(F.max_pool2d(enc, 2))
        u = F.interpolate(deeper, scale_factor=2, mode="nearest")
        u = F.relu(self.upconv(F.pad(u, (0, 1, 0, 1))))  # TF 'same' for k=2: 0 left/top, 1 right/bottom
        return self.dec(torch.cat([enc, u], dim=1))


class UNet(nn.Module):
    def __init__(self, base=64, depth=4, classes=32, dropout=0.5):
        super().__init__()
        self.features = Level(1, base, 0, depth, dropout)
        self.head1 = nn.Conv2d(base, classes, 3, padding=1)
        self.head2 = nn.Conv2d(classes, classes, 1)

    def forward(self, x):
        return self.head2(F.relu(self.head1(self.features(x))))


def add_run_args(ap, batch):
    """The options of a run of the network that torch_bench.py shares: unet.net's BASE, SIZE,
    DEPTH and CLASSES, the batch (default batch), the threads and the seed."""
    ap.add_argument("--base", type=int, default=64)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--classes", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)


def load_dataset(d):
    names = sorted(n for n in os.listdir(os.path.join(d, "images"))
                   if n.lower().endswith(".png") and not n.startswith("."))
    if not names:
        sys.exit(f"{d}/images: no PNG files")
    imgs, masks = [], []
    for n in names:
        im = np.asarray(Image.open(os.path.join(d, "images", n)).convert("L"), dtype=np.float32) / 255.0
        mk = Image.open(os.path.join(d, "masks", n))
        if mk.mode not in ("L", "P"):
            sys.exit(f"{n}: mask mode {mk.mode}")
        imgs.append(im)
        masks.append(np.asarray(mk, dtype=np.int64))
    return np.stack(imgs)[:, None], np.stack(masks)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="dataset folder (images/*.png, masks/*.png); "
                    "without it, random data of the same shapes")
    add_run_args(ap, batch=4)
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    K = a.classes

    if a.data:
        images, masks = load_dataset(a.data)
        if images.shape[2:] != (a.size, a.size):
            sys.exit(f"images are {images.shape[2]}x{images.shape[3]}, expected {a.size}x{a.size}")
    else:
        rng = np.random.default_rng(a.seed)
        images = rng.random((8, 1, a.size, a.size), dtype=np.float32)
        masks = rng.integers(0, K, (8, a.size, a.size))
    lab = masks[masks != 255]
    if lab.size and lab.max() >= K:
        sys.exit(f"mask value {lab.max()} >= {K} classes")
    counts = np.bincount(lab, minlength=K).astype(np.float64)
    w = np.where(counts > 0, lab.size / (K * np.maximum(counts, 1)), 0.0)
    images = torch.from_numpy(np.ascontiguousarray(images))
    masks = torch.from_numpy(np.ascontiguousarray(masks))
    n = images.shape[0]

    model = UNet(a.base, a.depth, K, 0.5)
    model.train()
    nparams = sum(p.numel() for p in model.parameters())
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32), ignore_index=255)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    times, cpu = [], []
    for s in range(a.steps):
        idx = [(s * a.batch + i) % n for i in range(a.batch)]   # in order, wrapping like epochs
        x, y = images[idx], masks[idx]
        t, c = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 0.01)
        opt.step()
        lv = loss.item()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        print(f"step {s + 1}/{a.steps}  loss {lv:.4f}  {times[-1]:.2f} s", flush=True)

    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rest = times[1:]
    per_step = sum(rest) / len(rest) if rest else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch}, "
          f"{nparams} parameters")
    print(f"peak_rss_kib {rss_kib}")
    print(f"first_step_s {times[0]:.3f}")
    print(f"s_per_step {per_step:.3f}  (mean of steps 2..{a.steps})")
    rest = cpu[1:]
    print(f"cpu_s_per_step {sum(rest) / len(rest) if rest else float('nan'):.3f}  "
          f"(user + system, all threads, mean of steps 2..{a.steps})")


if __name__ == "__main__":
    main()
