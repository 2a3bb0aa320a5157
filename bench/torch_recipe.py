#!/usr/bin/python3
"""torch_recipe.py — the nnU-Net-style PyTorch recipe, this project's reference for the recipe study.

    /usr/bin/python3 bench/torch_recipe.py --data TRAIN_DIR --val VAL_DIR --steps 1600 \\
        --base 8 --depth 3 --batch 4 --classes 32 --seed 1 --threads 1 --json OUT.json

The network is models/lib/unet_nn.net's body with NORM = instance and SLOPE = 0.01: per level
two 3x3 convolutions (no bias), each followed by instance norm (affine) and LeakyReLU(0.01);
2x2 max-pooling; decoder: nearest upsampling x2, a 2x2 'same' convolution with bias (TensorFlow's padding:
0 top/left, 1 bottom/right), instance norm, LeakyReLU, concatenation with the skip, the two-conv
block; a 1x1 head (with bias).  He-normal initialization (nnU-Net's InitWeights_He(1e-2)).
No dropout, no deep supervision, no logit adjustment, no test-time augmentation.

Loss: cross-entropy + soft Dice over the foreground classes on the whole batch (nnU-Net's
MemoryEfficientSoftDiceLoss with batch_dice, do_bg=False, smooth 1e-5), mask value 255 ignored.
Sampling (nnU-Net's oversample_foreground_percent = 0.33): of each batch of B, the last
B - round(B * 0.67) samples pick a foreground class uniformly among those in the training set,
then an image that contains it; the others an image uniformly; all with replacement.
Optimizer: Adam(lr 1e-3), poly decay lr * (1 - step / steps)^0.9 over the run, gradient-norm
clip 12.

Training batches are whole images (the study's default, images of the model's size), or with
--patch P nnU-Net's P x P patches: uniform windows, and for the forced third a window centred on
a uniform pixel of the drawn class, clamped to the image (as netrun's crops, without the jitter).
Evaluation on --val (whole images: the network is fully convolutional): the last weights, the confusion matrix pooled over
all validation pixels (label 255 ignored), and the figures of `netrun eval --json` with
netrun's definitions (runtime/jobs/metrics.c): per-class IoU (null when a class is in neither
truth nor prediction), pixel_accuracy, miou_foreground (mean over the non-null foreground
IoUs), worst_iou_foreground (over the foreground classes present in the truth).  Also the
wall seconds of training (`train_seconds`).  Use Debian's /usr/bin/python3 (python3-torch).
"""
import argparse
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from torch_unet import load_dataset  # noqa: E402  (bench/'s dataset reader)


def conv_norm_act(cin, ch, k=3, bias=False):
    return [nn.Conv2d(cin, ch, k, padding=1 if k == 3 else 0, bias=bias),
            nn.InstanceNorm2d(ch, affine=True), nn.LeakyReLU(0.01)]


class Level(nn.Module):
    """lib/unet_nn.net's level_nn without deep supervision."""

    def __init__(self, cin, ch, d, depth):
        super().__init__()
        self.enc = nn.Sequential(*conv_norm_act(cin, ch), *conv_norm_act(ch, ch))
        self.last = d == depth
        if not self.last:
            self.deeper = Level(ch, ch * 2, d + 1, depth)
            # unet_nn.net's up-convolution keeps conv2d's bias: no effect before the instance
            # norm (its gradient is 0), but parameters, which bench/compare.sh checks are equal
            self.up = nn.Sequential(*conv_norm_act(ch * 2, ch, k=2, bias=True))
            self.dec = nn.Sequential(*conv_norm_act(ch * 2, ch), *conv_norm_act(ch, ch))

    def forward(self, x):
        enc = self.enc(x)
        if self.last:
            return enc
        u = F.interpolate(self.deeper(F.max_pool2d(enc, 2)), scale_factor=2, mode="nearest")
        u = self.up(F.pad(u, (0, 1, 0, 1)))  # 'same' for k = 2 as TensorFlow pads
        return self.dec(torch.cat([enc, u], dim=1))


class UNet(nn.Module):
    def __init__(self, base, depth, classes):
        super().__init__()
        self.features = Level(1, base, 0, depth)
        self.head = nn.Conv2d(base, classes, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=1e-2)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.head(self.features(x))


def ce_dice(logits, labels, smooth=1e-5):
    """Cross-entropy + (1 - soft Dice over the foreground classes, whole batch)."""
    valid = labels != 255
    ce = F.cross_entropy(logits, labels.masked_fill(~valid, 0), reduction="none")
    ce = (ce * valid).sum() / valid.sum().clamp(min=1)
    p = torch.softmax(logits, 1)[:, 1:] * valid[:, None]
    onehot = F.one_hot(labels.masked_fill(~valid, 0), logits.shape[1]).permute(0, 3, 1, 2)[:, 1:]
    onehot = onehot * valid[:, None]
    tp = (p * onehot).sum((0, 2, 3))
    dice = (2 * tp + smooth) / (p.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + smooth).clamp(min=1e-8)
    return ce + 1 - dice.mean()


class Sampler:
    """nnU-Net's foreground oversampling over whole images."""

    def __init__(self, masks, classes, batch, rng):
        self.n, self.batch, self.rng = len(masks), batch, rng
        self.forced = batch - round(batch * (1 - 0.33))
        by_class = [np.flatnonzero([(m == c).any() for m in masks]) for c in range(1, classes)]
        self.classes = [c for c, ix in zip(range(1, classes), by_class) if len(ix)]
        self.by_class = [ix for ix in by_class if len(ix)]

    def draw(self):
        """The batch's images, and per slot the class it was drawn for (-1: not forced)."""
        idx = list(self.rng.integers(0, self.n, self.batch - self.forced))
        cls = [-1] * len(idx)
        for _ in range(self.forced):
            k = self.rng.integers(len(self.by_class)) if self.by_class else -1
            ix = self.by_class[k] if k >= 0 else np.arange(self.n)
            idx.append(ix[self.rng.integers(len(ix))])
            cls.append(self.classes[k] if k >= 0 else -1)
        return np.array(idx), cls


def crop_batch(images, masks, idx, cls, patch, rng):
    """nnU-Net's patches: a uniform P x P window of each image, or for a forced slot one centred
    on a uniform pixel of its drawn class (clamped to the image)."""
    h, w = images.shape[2], images.shape[3]
    xs, ys = [], []
    for i, c in zip(idx, cls):
        pix = np.flatnonzero(masks[i] == c) if c >= 0 else np.empty(0, np.int64)
        if len(pix):
            p = pix[rng.integers(len(pix))]
            y0 = min(max(p // w - patch // 2, 0), h - patch)
            x0 = min(max(p % w - patch // 2, 0), w - patch)
        else:
            y0, x0 = rng.integers(0, h - patch + 1), rng.integers(0, w - patch + 1)
        xs.append(images[i, :, y0:y0 + patch, x0:x0 + patch])
        ys.append(masks[i, y0:y0 + patch, x0:x0 + patch])
    return np.stack(xs), np.stack(ys)


def evaluate(model, images, masks, classes, batch):
    conf = np.zeros((classes, classes), np.int64)
    model.eval()
    with torch.no_grad():
        for i in range(0, len(images), batch):
            pred = model(torch.from_numpy(images[i:i + batch])).argmax(1).numpy()
            truth = masks[i:i + batch]
            keep = truth != 255
            conf += np.bincount(truth[keep] * classes + pred[keep],
                                minlength=classes * classes).reshape(classes, classes)
    truth_n, pred_n, tp = conf.sum(1), conf.sum(0), np.diag(conf)
    denom = truth_n + pred_n - tp
    iou = [(float(t) / d if t else 0) if d else None for t, d in zip(tp, denom)]  # 0, not 0.0
    fg = [v for v in iou[1:] if v is not None]
    worst = [iou[c] for c in range(1, classes) if truth_n[c] > 0]
    return {"pixel_accuracy": float(tp.sum()) / max(1, conf.sum()),
            "miou_foreground": sum(fg) / len(fg) if fg else None,
            "worst_iou_foreground": min(worst) if worst else None,
            "iou": iou}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--steps", type=int, default=1600)
    ap.add_argument("--base", type=int, default=8)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--classes", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--patch", type=int, default=0,
                    help="train on P x P patches (nnU-Net's; forced ones centred on the drawn class); "
                         "0: whole images")
    ap.add_argument("--json", help="write the evaluation here (default: stdout)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    images, masks = load_dataset(a.data)
    vimages, vmasks = load_dataset(a.val)
    if images.shape[2] % (1 << a.depth) or images.shape[3] % (1 << a.depth):
        sys.exit(f"{a.data}: {images.shape[2]}x{images.shape[3]} images do not divide by 2^{a.depth}")
    if a.patch and (a.patch % (1 << a.depth) or a.patch > min(images.shape[2], images.shape[3])):
        sys.exit(f"--patch {a.patch}: must divide by 2^{a.depth} and fit the {images.shape[2]}x{images.shape[3]} images")
    if masks.max(initial=0) != 255 and masks.max(initial=0) >= a.classes:
        sys.exit(f"{a.data}: a mask holds class {masks.max()}, the model has {a.classes}")
    model = UNet(a.base, a.depth, a.classes)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (1 - s / a.steps) ** 0.9)
    sampler = Sampler(masks, a.classes, a.batch, rng)

    t0 = time.monotonic()
    model.train()
    for step in range(a.steps):
        idx, cls = sampler.draw()
        if a.patch:
            xb, yb = crop_batch(images, masks, idx, cls, a.patch, rng)
            x, y = torch.from_numpy(xb), torch.from_numpy(yb)
        else:
            x, y = torch.from_numpy(images[idx]), torch.from_numpy(masks[idx])
        loss = ce_dice(model(x), y)
        if not math.isfinite(loss.item()):
            sys.exit(f"step {step}: loss {loss.item()}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 12)
        opt.step()
        sched.step()
    result = evaluate(model, vimages, vmasks, a.classes, a.batch)
    result["train_seconds"] = time.monotonic() - t0
    text = json.dumps(result, separators=(",", ":"))  # as netrun eval --json writes it
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
