#!/usr/bin/python3
"""Time steps of models/unet.net in PyTorch on synthetic inputs; print one JSON line.

Run with Debian's interpreter (python3-torch), e.g.
    /usr/bin/python3 bench/torch_bench.py --base 64 --size 256 --batch 1 --mode train --steps 3

The network (--net unet, the default) is bench/torch_unet.py's UNet: models/unet.net for the
given --base, --size, --batch, --depth, --classes, --dropout (spatial dropout on the two deepest
levels, 2x2 up-convs padded 0 top/left and 1 bottom/right).  --mode train times a training step:
zero_grad, forward, CrossEntropyLoss(weight=balanced, ignore_index=255), backward,
clip_grad_value_(0.01), Adam(lr, eps=1e-7) step, loss.item() (models/unet.net's
`minimize loss with adam(lr = LR, clip = 0.01)`; netc's Adam has eps 1e-7 and the Keras form of
the bias correction, the same work per step).  --net unet_nn is the recipe network,
bench/torch_recipe.py's UNet (models/unet_nn.net's body: instance norm with affine parameters
and LeakyReLU(0.01) after every convolution, no deep supervision); its loss is the plain
CrossEntropyLoss(ignore_index=255) (netc -D DS=false -D LOSS=ce) and --clip 0 (its Adam has no
clipping); --dropout does not apply.  --mode infer times model.eval() under
torch.inference_mode(): forward and softmax over the classes (netrun's `infer` entry).

Inputs: a uniform random image and uniform random labels 0..classes-1, the same batch every
step; balanced class weights from those labels (w_c = pixels / (K * count_c)), as netrun computes
them from the masks.  --warmup steps run first and are not timed; then --steps timed steps.

The JSON object: tool, mode, torch version, threads, base, size, batch, depth, classes,
params (parameter count), flops (convolution flops per step: 2 per multiply-add, forward; a
training step adds the filter gradient of every conv and the input gradient of every conv but
the first), warmup, steps, step_s (each timed step), median_s, gflops (flops / median_s / 1e9).
--steps 0 builds the model and prints params only (median_s and gflops null).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_recipe import UNet as RecipeUNet  # noqa: E402  (models/unet_nn.net's body)
from torch_unet import UNet, add_run_args  # noqa: E402  (the same network as bench/rss.sh measures)


def conv_flops(model, x, mode):
    """Convolution flops of one step, from the output shape of every Conv2d in one forward
    pass of a single image (flops are linear in the batch)."""
    per_conv = []

    def hook(m, inp, out):
        per_conv.append(2 * out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    training = model.training
    model.eval()
    with torch.no_grad():
        model(x[:1])
    model.train(training)
    for h in hooks:
        h.remove()
    fwd = sum(per_conv) * x.shape[0]
    if mode == "infer":
        return fwd
    return 3 * fwd - per_conv[0] * x.shape[0]   # no input gradient for the first conv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("train", "infer"), default="train")
    ap.add_argument("--net", choices=("unet", "unet_nn"), default="unet")
    add_run_args(ap, batch=1)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--clip", type=float, default=0.01, help="gradient value clip (0: none)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps before the timed ones")
    ap.add_argument("--steps", type=int, default=3, help="timed steps")
    ap.add_argument("--precision", choices=("f32", "bf16"), default="f32",
                    help="bf16: the step under torch.autocast('cpu', dtype=torch.bfloat16)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    K = a.classes

    model = UNet(a.base, a.depth, K, a.dropout) if a.net == "unet" else RecipeUNet(a.base, a.depth, K)
    out = {"tool": "torch", "net": a.net, "mode": a.mode, "torch": torch.__version__,
           "threads": torch.get_num_threads(), "base": a.base, "size": a.size,
           "batch": a.batch, "depth": a.depth, "classes": K, "precision": a.precision,
           "params": sum(p.numel() for p in model.parameters())}
    if a.steps == 0:
        print(json.dumps({**out, "steps": 0, "median_s": None, "gflops": None}), flush=True)
        return

    x = torch.rand(a.batch, 1, a.size, a.size)
    y = torch.randint(0, K, (a.batch, a.size, a.size))
    counts = torch.bincount(y.flatten(), minlength=K).double()
    w = torch.where(counts > 0, y.numel() / (K * counts.clamp(min=1)), torch.zeros(K, dtype=torch.double))
    flops = conv_flops(model, x, a.mode)

    if a.mode == "train":
        model.train()
        loss_fn = nn.CrossEntropyLoss(weight=w.float() if a.net == "unet" else None, ignore_index=255)
        opt = torch.optim.Adam(model.parameters(), lr=a.lr, eps=1e-7)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
                loss = loss_fn(model(x), y)
            loss.backward()
            if a.clip > 0:
                torch.nn.utils.clip_grad_value_(model.parameters(), a.clip)
            opt.step()
            return loss.item()
    else:
        model.eval()

        def step():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                        enabled=a.precision == "bf16"):
                return F.softmax(model(x), dim=1)[0, 0, 0, 0].item()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(json.dumps({**out, "flops": flops, "warmup": a.warmup, "steps": a.steps,
                      "step_s": [round(t, 6) for t in times], "median_s": med,
                      "gflops": flops / med / 1e9}), flush=True)


if __name__ == "__main__":
    main()
