"""torch_optim.py NETC TORCH_OPTIM_RUN — netrun's optimizers, gradient-norm
clipping and learning-rate schedules against PyTorch's.

Each case is one small model (a 3x3 conv, relu, a 1x1 conv, cross-entropy)
with the optimizer under test.  netc compiles it; torch_optim_run gives the
parameters, the image and the labels seeded random values and runs several
train steps on that batch; here torch starts from the same parameters, runs
the same steps with torch.optim (and clip_grad_norm_, the lr schedulers),
and the weights after the last step must agree to a relative 1e-5 (the
largest difference over the largest value of each tensor).  The Keras form
of adam has no torch.optim counterpart: it is written out with torch ops.
Prints one `ok - ` / `FAIL - ` line per case; exit status 1 on a failure.
Run by tests/torch_check.sh (meson test "torch optim")."""
import math
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

from torch_lib import read_safetensors

MODEL = """input image : f32[2, 2, 6, 6]
input mask : labels[2, 6, 6] classes 3
h = relu(conv2d(image, 4, 3, pad = same))
logits = conv2d(h, 3, 1)
output prediction = softmax(logits, axis = 1)
minimize cross_entropy(logits, mask) with %s
"""
NAMES = ["h.conv1.weight", "h.conv1.bias", "logits.conv1.weight", "logits.conv1.bias"]


def loss_of(P, x, y):
    h = F.relu(F.conv2d(x, P[0], P[1], padding=1))
    return F.cross_entropy(F.conv2d(h, P[2], P[3]), y.long())


class KerasAdam(torch.optim.Optimizer):
    """Keras/TF Adam (clipvalue aside): lr_t = lr sqrt(1-b2^t)/(1-b1^t),
    p -= lr_t m / (sqrt(v) + eps)."""

    def __init__(self, params, lr, b1=0.9, b2=0.999, eps=1e-7):
        super().__init__(params, {"lr": lr})
        self.b1, self.b2, self.eps, self.t = b1, b2, eps, 0
        self.m = [torch.zeros_like(p) for p in self.param_groups[0]["params"]]
        self.v = [torch.zeros_like(p) for p in self.param_groups[0]["params"]]

    @torch.no_grad()
    def step(self, closure=None):
        self.t += 1
        g = self.param_groups[0]
        lr_t = g["lr"] * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, m, v in zip(g["params"], self.m, self.v):
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            p.sub_(lr_t * m / (v.sqrt() + self.eps))


def warmup(n):
    return lambda k: min(1.0, (k + 1) / n)


# (name, optimizer text, torch optimizer of the params, clip_norm or None,
#  scheduler maker (opt, total) or None, steps, total)
CASES = [
    ("sgd plain", "sgd(lr = 0.1)", lambda P: torch.optim.SGD(P, lr=0.1), None, None, 5, 5),
    ("sgd momentum 0.9", "sgd(lr = 0.05, momentum = 0.9)",
     lambda P: torch.optim.SGD(P, lr=0.05, momentum=0.9), None, None, 6, 6),
    ("sgd nesterov 0.99 (nnU-Net's)", "sgd(lr = 0.01, momentum = 0.99, nesterov = true)",
     lambda P: torch.optim.SGD(P, lr=0.01, momentum=0.99, nesterov=True), None, None, 6, 6),
    ("sgd nesterov, weight decay 3e-2", "sgd(lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 3e-2)",
     lambda P: torch.optim.SGD(P, lr=0.05, momentum=0.9, nesterov=True, weight_decay=3e-2), None, None, 6, 6),
    ("sgd weight decay without momentum", "sgd(lr = 0.1, weight_decay = 0.1)",
     lambda P: torch.optim.SGD(P, lr=0.1, weight_decay=0.1), None, None, 4, 4),
    ("adam keras form (the default)", "adam(lr = 0.01)", lambda P: KerasAdam(P, 0.01), None, None, 6, 6),
    ("adam pytorch form", "adam(lr = 0.01, form = pytorch)",
     lambda P: torch.optim.Adam(P, lr=0.01), None, None, 6, 6),
    ("adam pytorch form, L2 weight decay 0.1, eps 1e-6",
     "adam(lr = 0.01, eps = 1e-6, weight_decay = 0.1, form = pytorch)",
     lambda P: torch.optim.Adam(P, lr=0.01, eps=1e-6, weight_decay=0.1), None, None, 6, 6),
    ("adamw defaults but lr", "adamw(lr = 0.01)", lambda P: torch.optim.AdamW(P, lr=0.01), None, None, 6, 6),
    ("adamw weight decay 0.3, betas 0.8 0.99",
     "adamw(lr = 0.02, beta1 = 0.8, beta2 = 0.99, weight_decay = 0.3)",
     lambda P: torch.optim.AdamW(P, lr=0.02, betas=(0.8, 0.99), weight_decay=0.3), None, None, 6, 6),
    ("sgd nesterov + clip_norm 0.05 (clips every step)",
     "sgd(lr = 0.1, momentum = 0.9, nesterov = true, clip_norm = 0.05)",
     lambda P: torch.optim.SGD(P, lr=0.1, momentum=0.9, nesterov=True), 0.05, None, 6, 6),
    ("adamw + clip_norm 0.5", "adamw(lr = 0.01, clip_norm = 0.5)",
     lambda P: torch.optim.AdamW(P, lr=0.01), 0.5, None, 6, 6),
    ("sgd + clip_norm 100 (never clips)", "sgd(lr = 0.1, clip_norm = 100)",
     lambda P: torch.optim.SGD(P, lr=0.1), 100.0, None, 4, 4),
    ("sgd nesterov + poly(0.1, power = 0.9), 6 of 8 steps",
     "sgd(lr = poly(0.1, power = 0.9), momentum = 0.9, nesterov = true)",
     lambda P: torch.optim.SGD(P, lr=0.1, momentum=0.9, nesterov=True), None,
     lambda o, T: torch.optim.lr_scheduler.PolynomialLR(o, total_iters=T, power=0.9), 6, 8),
    ("adam pytorch + cosine(0.02, min = 1e-3)", "adam(lr = cosine(0.02, min = 1e-3), form = pytorch)",
     lambda P: torch.optim.Adam(P, lr=0.02), None,
     lambda o, T: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=T, eta_min=1e-3), 7, 7),
    ("adam keras + cosine(0.01) with warmup = 3", "adam(lr = cosine(0.01, warmup = 3))",
     lambda P: KerasAdam(P, 0.01), None,
     lambda o, T: torch.optim.lr_scheduler.LambdaLR(
         o, lambda k: warmup(3)(k) * 0.5 * (1 + math.cos(math.pi * k / T))), 6, 6),
    ("sgd + poly(0.2, power = 2, warmup = 2) + clip_norm 0.3 + weight decay",
     "sgd(lr = poly(0.2, power = 2, warmup = 2), momentum = 0.5, weight_decay = 1e-2, clip_norm = 0.3)",
     lambda P: torch.optim.SGD(P, lr=0.2, momentum=0.5, weight_decay=1e-2), 0.3,
     lambda o, T: torch.optim.lr_scheduler.LambdaLR(o, lambda k: warmup(2)(k) * (1 - k / T) ** 2), 6, 6),
    ("adamw + warmup(1e-2, 4) (composed)", "adamw(lr = warmup(1e-2, 4))",
     lambda P: torch.optim.AdamW(P, lr=1e-2), None,
     lambda o, T: torch.optim.lr_scheduler.LambdaLR(o, warmup(4)), 6, 6),
    ("sgd with a schedule written in the language",
     "sgd(lr = 0.1 / (1 + step), momentum = 0.9)",
     lambda P: torch.optim.SGD(P, lr=0.1, momentum=0.9), None,
     lambda o, T: torch.optim.lr_scheduler.LambdaLR(o, lambda k: 1 / (1 + k)), 5, 5),
]


def main():
    netc, runner = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, opt_text, make_opt, clip_norm, make_sched, steps, total) in enumerate(CASES):
            src, graph, dump = (os.path.join(tmp, "c%d.%s" % (i, e)) for e in ("net", "netg", "st"))
            with open(src, "w") as f:
                f.write(MODEL % opt_text)
            try:
                subprocess.run([netc, src, "-o", graph], check=True, capture_output=True, text=True)
                subprocess.run([runner, graph, dump, str(steps), str(total)], check=True,
                               capture_output=True, text=True)
            except subprocess.CalledProcessError as e:
                print("FAIL - %s: %s" % (name, (e.stderr or "").strip()))
                failed += 1
                continue
            W = read_safetensors(dump)
            P = [W[n].clone().requires_grad_(True) for n in NAMES]
            opt = make_opt(P)
            sched = make_sched(opt, total) if make_sched else None
            for _ in range(steps):
                opt.zero_grad()
                loss_of(P, W["image"], W["mask"]).backward()
                if clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(P, clip_norm)
                opt.step()
                if sched:
                    sched.step()
            worst = 0.0
            for n, p in zip(NAMES, P):
                got, want = W[n + ".after"], p.detach()
                rel = float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))
                moved = float((want - W[n]).abs().max() / want.abs().max().clamp_min(1e-30))
                if not (rel <= 1e-5) or moved < 1e-3:
                    print("FAIL - %s: %s differs by %.3g relative (moved %.3g)" % (name, n, rel, moved))
                    failed += 1
                    break
                worst = max(worst, rel)
            else:
                print("ok - %s (%d steps, weights within %.2g relative)" % (name, steps, worst))
    if failed:
        print("%d of %d cases failed" % (failed, len(CASES)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
