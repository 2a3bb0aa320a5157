#!/usr/bin/python3
"""torch_variants.py NETC NETRUN [MODELS_DIR] — the U-Net variants of models/ in PyTorch,
their parameter counts checked against netc's graphs.

Each of models/unet.net, unet_transposed.net, resunet.net and attention_unet.net is
written here as a torch.nn.Module that follows the model file layer by layer (the
modules below say which function of the .net file they mirror).  For each model and
each size (the full size of the file's defaults, and a small one set with -D), netc
compiles the file, `netrun info` prints its parameter count and tensor count, and both
must equal the PyTorch module's (sum of numel and number of parameter tensors); the
module also runs forward on a random batch at the small size and must give logits of
shape (BATCH, CLASSES, SIZE, SIZE).  Prints one `ok - ` / `FAIL - ` line per check and
exits 1 on a failure.  Run by tests/torch_variants.sh (grad suite; skipped without
torch).  Use /usr/bin/python3 (Debian's python3-torch).
"""
import os
import re
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F


def block(cin, ch):
    """lib/unet.net block(x, ch): two 3x3 'same' convs with ReLU."""
    return nn.Sequential(nn.Conv2d(cin, ch, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU())


class Head(nn.Module):
    """lib/unet.net head(features, k): 3x3 conv + ReLU, 1x1 conv."""

    def __init__(self, base, classes):
        super().__init__()
        self.c1 = nn.Conv2d(base, classes, 3, padding=1)
        self.c2 = nn.Conv2d(classes, classes, 1)

    def forward(self, x):
        return self.c2(F.relu(self.c1(x)))


def dropout_at(d, depth, p):
    return nn.Dropout2d(p) if d >= depth - 1 and depth > 0 else nn.Identity()


class Level(nn.Module):
    """lib/unet.net level(...) with up(...): nearest upsample, 2x2 'same' conv (TF
    padding: one row/column at the bottom/right) + ReLU, concat(skip, up), block."""

    def __init__(self, cin, ch, d, depth, p):
        super().__init__()
        self.enc, self.drop, self.last = block(cin, ch), dropout_at(d, depth, p), d == depth
        if not self.last:
            self.deeper = Level(ch, ch * 2, d + 1, depth, p)
            self.upconv = nn.Conv2d(ch * 2, ch, 2)
            self.dec = block(ch * 2, ch)

    def skip_of(self, enc, deeper):
        return enc

    def forward(self, x):
        enc = self.drop(self.enc(x))
        if self.last:
            return enc
        deeper = self.deeper(F.max_pool2d(enc, 2))
        u = F.relu(self.upconv(F.pad(F.interpolate(deeper, scale_factor=2, mode="nearest"), (0, 1, 0, 1))))
        return self.dec(torch.cat([self.skip_of(enc, deeper), u], dim=1))


class LevelTransposed(nn.Module):
    """unet_transposed.net level_transposed / up_transposed: ConvTranspose2d(2ch, ch,
    2, stride 2) without activation, concat(skip, up), block."""

    def __init__(self, cin, ch, d, depth, p):
        super().__init__()
        self.enc, self.drop, self.last = block(cin, ch), dropout_at(d, depth, p), d == depth
        if not self.last:
            self.deeper = LevelTransposed(ch, ch * 2, d + 1, depth, p)
            self.up = nn.ConvTranspose2d(ch * 2, ch, 2, stride=2)
            self.dec = block(ch * 2, ch)

    def forward(self, x):
        enc = self.drop(self.enc(x))
        if self.last:
            return enc
        deeper = self.deeper(F.max_pool2d(enc, 2))
        return self.dec(torch.cat([enc, self.up(deeper)], dim=1))


class ResBlock(nn.Module):
    """resunet.net res_block(x, ch): conv3x3-GN-ReLU-conv3x3-GN + (conv1x1-GN) skip, ReLU;
    convs without bias, GN with min(GROUPS, ch) groups (gn)."""

    def __init__(self, cin, ch, groups):
        super().__init__()
        g = min(groups, ch)
        self.c1, self.n1 = nn.Conv2d(cin, ch, 3, padding=1, bias=False), nn.GroupNorm(g, ch)
        self.c2, self.n2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.GroupNorm(g, ch)
        self.cs, self.ns = nn.Conv2d(cin, ch, 1, bias=False), nn.GroupNorm(g, ch)

    def forward(self, x):
        h = self.n2(self.c2(F.relu(self.n1(self.c1(x)))))
        return F.relu(h + self.ns(self.cs(x)))


class LevelRes(nn.Module):
    """resunet.net level_res: res_block, deeper levels, res_block(concat(enc, upsample))."""

    def __init__(self, cin, ch, d, depth, p, groups):
        super().__init__()
        self.enc, self.drop, self.last = ResBlock(cin, ch, groups), dropout_at(d, depth, p), d == depth
        if not self.last:
            self.deeper = LevelRes(ch, ch * 2, d + 1, depth, p, groups)
            self.dec = ResBlock(ch * 3, ch, groups)

    def forward(self, x):
        enc = self.drop(self.enc(x))
        if self.last:
            return enc
        deeper = self.deeper(F.max_pool2d(enc, 2))
        return self.dec(torch.cat([enc, F.interpolate(deeper, scale_factor=2, mode="nearest")], dim=1))


class AttentionGate(nn.Module):
    """attention_unet.net attention_gate(x, g, ch), Oktay et al.'s GridAttentionBlock2D
    (concatenation mode) without its batch norm: theta (W_x, 2x2 stride 2, no bias), phi
    (W_g, 1x1), psi (1x1 to one channel), sigmoid, bilinear resampling to x's grid,
    W (1x1) of alpha * x."""

    def __init__(self, ch, gch):
        super().__init__()
        inter = max(ch // 2, 1)
        self.theta = nn.Conv2d(ch, inter, 2, stride=2, bias=False)
        self.phi = nn.Conv2d(gch, inter, 1)
        self.psi = nn.Conv2d(inter, 1, 1)
        self.W = nn.Conv2d(ch, ch, 1)

    def forward(self, x, g):
        alpha = torch.sigmoid(self.psi(F.relu(self.theta(x) + self.phi(g))))
        alpha = F.interpolate(alpha, scale_factor=2, mode="bilinear", align_corners=False)
        return self.W(x * alpha)


class LevelAttention(Level):
    """attention_unet.net level_attention: unet.net's level with the skip gated by the
    coarser decoder feature."""

    def __init__(self, cin, ch, d, depth, p):
        super().__init__(cin, ch, d, depth, p)
        if not self.last:
            self.deeper = LevelAttention(ch, ch * 2, d + 1, depth, p)
            self.gate = AttentionGate(ch, ch * 2)

    def skip_of(self, enc, deeper):
        return self.gate(enc, deeper)


class Net(nn.Module):
    def __init__(self, level, base, classes):
        super().__init__()
        self.features, self.head = level, Head(base, classes)

    def forward(self, x):
        return self.head(self.features(x))


def build(model, c):
    b, d, p = c["BASE"], c["DEPTH"], 0.5
    level = {"unet": lambda: Level(1, b, 0, d, p),
             "unet_transposed": lambda: LevelTransposed(1, b, 0, d, p),
             "resunet": lambda: LevelRes(1, b, 0, d, p, c.get("GROUPS", 8)),
             "attention_unet": lambda: LevelAttention(1, b, 0, d, p)}[model]()
    return Net(level, b, c["CLASSES"])


FULL = {"CLASSES": 32, "BASE": 64, "SIZE": 256, "BATCH": 1, "DEPTH": 4}
SMALL = {"CLASSES": 5, "BASE": 4, "SIZE": 32, "BATCH": 2, "DEPTH": 3}


def netrun_params(netc, netrun, path, defs, tmp):
    out = os.path.join(tmp, "m.netg")
    cmd = [netc, path, "-o", out]
    for k, v in defs.items():
        cmd += ["-D", "%s=%s" % (k, v)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("netc failed: " + r.stderr.strip())
    r = subprocess.run([netrun, "info", out], capture_output=True, text=True)
    m = re.search(r"parameters: (\d+) in (\d+) tensors", r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError("netrun info failed: " + (r.stderr or r.stdout).strip())
    return int(m.group(1)), int(m.group(2))


def main():
    netc, netrun = sys.argv[1], sys.argv[2]
    models = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                 "..", "models")
    torch.manual_seed(0)
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("unet", "unet_transposed", "resunet", "attention_unet"):
            path = os.path.join(models, model + ".net")
            for label, c in (("full size", FULL), ("small", SMALL)):
                net = build(model, c)
                want = (sum(t.numel() for t in net.parameters()), len(list(net.parameters())))
                try:
                    got = netrun_params(netc, netrun, path, {} if c is FULL else c, tmp)
                except RuntimeError as e:
                    print("FAIL - %s %s: %s" % (model, label, e))
                    fails += 1
                    continue
                ok = got == want
                fails += not ok
                print("%s - %s %s: netrun %d parameters in %d tensors, PyTorch %d in %d"
                      % ("ok" if ok else "FAIL", model, label, got[0], got[1], want[0], want[1]))
            net = build(model, SMALL).eval()
            with torch.no_grad():
                y = net(torch.randn(SMALL["BATCH"], 1, SMALL["SIZE"], SMALL["SIZE"]))
            shape = (SMALL["BATCH"], SMALL["CLASSES"], SMALL["SIZE"], SMALL["SIZE"])
            ok = tuple(y.shape) == shape
            fails += not ok
            print("%s - %s small: PyTorch forward gives %s (want %s)"
                  % ("ok" if ok else "FAIL", model, tuple(y.shape), shape))
    print("%s (torch %s)" % ("all match" if not fails else "%d checks failed" % fails, torch.__version__))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
