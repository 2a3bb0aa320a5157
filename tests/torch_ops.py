"""torch_ops.py NETC TORCH_OPS_RUN — the forward pass of each op added for
issues 9 and 11 (and conv2d's dilation and groups) against PyTorch on the same weights and inputs.

Each case is a tiny model: `t = <the op on the image>`, and an output that
depends on t (so that the infer entry computes it).  netc compiles it,
torch_ops_run runs the entry on seeded random parameters and image and
dumps every tensor (safetensors); here torch recomputes t from the dumped
image and parameters, and the two must agree to a relative 1e-5 of the
largest value (float32 on both sides).  Prints one `ok - ` / `FAIL - ` line
per case; exit status 1 on a failure.  Run by tests/torch_check.sh (meson
test "torch ops")."""
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

from torch_lib import read_safetensors

HEAD = """input image : f32[%s]
input mask : labels[%d, %d, %d] classes 3
"""
TAIL = """logits = conv2d(image, 3, 1) + 0 * sum(t)%s
output p = softmax(logits)
"""


# (name, image shape, body defining t, tensor name of t, torch function of
# the dumped tensors W and the image x giving t)
CASES = [
    ("sigmoid", (2, 3, 4, 5), "t = sigmoid(image * 4)", "t.sigmoid1",
     lambda W, x: torch.sigmoid(x * 4)),
    ("tanh", (2, 3, 4, 5), "t = tanh(image)", "t.tanh1", lambda W, x: torch.tanh(x)),
    ("leaky_relu default slope", (2, 3, 4, 5), "t = leaky_relu(image)", "t.leaky_relu1",
     lambda W, x: F.leaky_relu(x, 0.01)),
    ("leaky_relu slope 0.2", (2, 3, 4, 5), "t = leaky_relu(image, slope = 0.2)", "t.leaky_relu1",
     lambda W, x: F.leaky_relu(x, 0.2)),
    ("group_norm 2 groups, affine", (2, 6, 5, 7), "t = group_norm(image * 3 + 1, 2)",
     "t.group_norm1",
     lambda W, x: F.group_norm(x * 3 + 1, 2, W["t.group_norm1.weight"], W["t.group_norm1.bias"], 1e-5)),
    ("group_norm 1 group, eps 0.1, no affine", (2, 4, 3, 5),
     "t = group_norm(image, 1, eps = 0.1, affine = false)", "t.group_norm1",
     lambda W, x: F.group_norm(x, 1, None, None, 0.1)),
    ("group_norm then leaky_relu (netc fuses them: group_norm_act)", (2, 6, 9, 7),
     "t = leaky_relu(group_norm(image * 3 + 1, 3), slope = 0.1)", "t.leaky_relu1",
     lambda W, x: F.leaky_relu(F.group_norm(x * 3 + 1, 3, W["t.group_norm1.weight"], W["t.group_norm1.bias"], 1e-5),
                               0.1)),
    ("instance_norm then relu (fused)", (2, 4, 6, 5), "t = relu(instance_norm(image))", "t.relu1",
     lambda W, x: F.relu(F.instance_norm(x, weight=W["t.instance_norm1.weight"], bias=W["t.instance_norm1.bias"],
                                         eps=1e-5))),
    ("instance_norm", (2, 3, 6, 5), "t = instance_norm(image)", "t.instance_norm1",
     lambda W, x: F.instance_norm(x, weight=W["t.instance_norm1.weight"],
                                  bias=W["t.instance_norm1.bias"], eps=1e-5)),
    ("downsample_labels 2 (and of that, 2), nearest", (2, 1, 8, 12),
     "small = downsample_labels(mask, 2)\n"
     "t = one_hot(downsample_labels(small, 2)) + conv2d(maxpool(image, 4), 3, 1)",
     ["small.downsample_labels1", "t.downsample_labels1"],
     lambda W, x: [F.interpolate(W["mask"][:, None].float(), scale_factor=0.5, mode="nearest")[:, 0].int(),
                   F.interpolate(W["mask"][:, None].float(), scale_factor=0.25, mode="nearest")[:, 0].int()]),
    ("avg_pool 2 and 3 (floor)", (2, 3, 7, 8), "u = avg_pool(image, 3)\nt = avg_pool(image)",
     ["t.avg_pool1", "u.avg_pool1"], lambda W, x: [F.avg_pool2d(x, 2), F.avg_pool2d(x, 3)]),
    ("global_avg_pool, global_max_pool", (2, 3, 5, 7),
     "u = global_max_pool(image)\nt = global_avg_pool(image)",
     ["t.global_avg_pool1", "u.global_max_pool1"],
     lambda W, x: [F.adaptive_avg_pool2d(x, 1), F.adaptive_max_pool2d(x, 1)]),
    ("pad zero [1, 2, 0, 3] and reflect 2, [1, 3]", (2, 2, 4, 5),
     "u = pad(image, 2, mode = reflect)\nv = pad(image, [1, 3], mode = reflect)\nt = pad(image, [1, 2, 0, 3])",
     ["t.pad1", "u.pad1", "v.pad1"],
     lambda W, x: [F.pad(x, (0, 3, 1, 2)), F.pad(x, (2, 2, 2, 2), mode="reflect"),
                   F.pad(x, (3, 3, 1, 1), mode="reflect")]),
    ("upsample bilinear 2 and 3, align_corners false/true; nearest", (2, 2, 3, 4),
     "u = upsample(image, 3, mode = bilinear, align_corners = true)\n"
     "v = upsample(image, 2)\nt = upsample(image, 2, mode = bilinear)\n"
     "w = upsample(image, 3, mode = bilinear)",
     ["t.upsample1", "u.upsample1", "v.upsample1", "w.upsample1"],
     lambda W, x: [F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
                   F.interpolate(x, scale_factor=3, mode="bilinear", align_corners=True),
                   F.interpolate(x, scale_factor=2, mode="nearest"),
                   F.interpolate(x, scale_factor=3, mode="bilinear", align_corners=False)]),
    ("dropout and spatial_dropout are the identity in infer", (2, 3, 4, 5),
     "t = spatial_dropout(dropout(image, 0.5), 0.5) * 1", "t.mul1", lambda W, x: F.dropout(x, 0.5, training=False)),
    ("conv_transpose2d 2x2 stride 2; 3x3 stride 2 padding 1 output_padding 1; [3, 2] padding [1, 0]",
     (2, 3, 4, 5),
     "u = conv_transpose2d(image, 2, 3, stride = 2, padding = 1, output_padding = 1, bias = false)\n"
     "v = conv_transpose2d(image, 4, [3, 2], padding = [1, 0])\n"
     "t = conv_transpose2d(image, 4, 2, stride = 2)",
     ["t.conv_transpose1", "u.conv_transpose1", "v.conv_transpose1"],
     lambda W, x: [F.conv_transpose2d(x, W["t.conv_transpose1.weight"], W["t.conv_transpose1.bias"], stride=2),
                   F.conv_transpose2d(x, W["u.conv_transpose1.weight"], None, stride=2, padding=1,
                                      output_padding=1),
                   F.conv_transpose2d(x, W["v.conv_transpose1.weight"], W["v.conv_transpose1.bias"],
                                      padding=(1, 0))]),
    ("conv_transpose2d 3x3 and 5x5 stride 1, 'same' padding (the fast data-gradient path of conv.c)",
     (2, 8, 6, 7),
     "u = conv_transpose2d(image, 6, 5, padding = 2, bias = false)\nt = conv_transpose2d(image, 4, 3, padding = 1)",
     ["t.conv_transpose1", "u.conv_transpose1"],
     lambda W, x: [F.conv_transpose2d(x, W["t.conv_transpose1.weight"], W["t.conv_transpose1.bias"], padding=1),
                   F.conv_transpose2d(x, W["u.conv_transpose1.weight"], None, padding=2)]),
    ("conv2d dilation 2 same; dilation 3 valid [2, 3]; dilation 2 stride 2 same", (2, 3, 9, 10),
     "u = conv2d(image, 2, [2, 3], dilation = 3)\nv = conv2d(image, 2, 3, stride = 2, pad = same, dilation = 2)\n"
     "t = conv2d(image, 4, 3, pad = same, dilation = 2)",
     ["t.conv1", "u.conv1", "v.conv1"],
     lambda W, x: [same_conv(W, x, "t.conv1", 3, dilation=2),
                   F.conv2d(x, W["u.conv1.weight"], W["u.conv1.bias"], dilation=3),
                   same_conv(W, x, "v.conv1", 3, stride=2, dilation=2)]),
    ("conv2d groups 3 (6 -> 9, 3x3 same); groups 2 (1x1, no bias)", (2, 6, 5, 7),
     "u = conv2d(image, 4, 1, groups = 2, bias = false)\nt = conv2d(image, 9, 3, pad = same, groups = 3)",
     ["t.conv1", "u.conv1"],
     lambda W, x: [same_conv(W, x, "t.conv1", 3, groups=3),
                   F.conv2d(x, W["u.conv1.weight"], None, groups=2)]),
    ("depthwise conv2d (groups = channels): 3x3 same; 3x3 stride 2 dilation 2; 5x5 no bias; [1, 3] valid",
     (2, 4, 7, 8),
     "u = conv2d(image, 4, 3, stride = 2, pad = same, dilation = 2, groups = 4)\n"
     "v = conv2d(image, 4, 5, pad = same, groups = 4, bias = false)\n"
     "w = conv2d(image, 4, [1, 3], groups = 4)\n"
     "t = conv2d(image, 4, 3, pad = same, groups = 4)",
     ["t.conv1", "u.conv1", "v.conv1", "w.conv1"],
     lambda W, x: [same_conv(W, x, "t.conv1", 3, groups=4),
                   same_conv(W, x, "u.conv1", 3, stride=2, dilation=2, groups=4),
                   same_conv(W, x, "v.conv1", 5, groups=4, bias=False),
                   F.conv2d(x, W["w.conv1.weight"], W["w.conv1.bias"], groups=4)]),
    ("sort (ascending, descending, axes 1 and -1), argsort + gather, cumsum", (2, 3, 4, 5),
     "u = sort(image, axis = 1)\nv = gather(image * 2, argsort(image, descending = true))\n"
     "w = cumsum(image, axis = 2)\nt = sort(image, descending = true)",
     ["t.sort1", "u.sort1", "v.gather1", "w.cumsum1"],
     lambda W, x: [torch.sort(x, dim=-1, descending=True)[0], torch.sort(x, dim=1)[0],
                   torch.gather(x * 2, -1, torch.argsort(x, dim=-1, descending=True)),
                   torch.cumsum(x, dim=2)]),
    ("batch_norm, infer (running statistics)", (2, 3, 4, 5), "t = batch_norm(image * 2 + 1, eps = 1e-3)",
     "t.batch_norm1",
     lambda W, x: F.batch_norm(x * 2 + 1, W["t.batch_norm1.running_stats"][0],
                               W["t.batch_norm1.running_stats"][1], W["t.batch_norm1.weight"],
                               W["t.batch_norm1.bias"], training=False, eps=1e-3)),
    ("batch_norm, train (batch statistics, running update)", (3, 2, 4, 5),
     "t = batch_norm(image * 2 + 1, momentum = 0.3)",
     ["t.batch_norm1", "t.batch_norm1.running_stats.after"], lambda W, x: bn_train(W, x, 0.3), "train"),
]


def same_conv(W, x, name, k, stride=1, dilation=1, groups=1, bias=True):
    """netc's pad = same (TensorFlow's: out = ceil(in / stride), the odd pixel
    of padding at the bottom/right) as an explicit F.pad, then F.conv2d."""
    kh, kw = (k, k) if isinstance(k, int) else k
    pads = []
    for size, kk in ((x.shape[3], kw), (x.shape[2], kh)):
        out = (size + stride - 1) // stride
        p = max(0, (out - 1) * stride + (kk - 1) * dilation + 1 - size)
        pads += [p // 2, p - p // 2]
    return F.conv2d(F.pad(x, pads), W[name + ".weight"], W[name + ".bias"] if bias else None,
                    stride=stride, dilation=dilation, groups=groups)


def bn_train(W, x, momentum):
    rs = W["t.batch_norm1.running_stats"]
    rm, rv = rs[0].clone(), rs[1].clone()
    y = F.batch_norm(x * 2 + 1, rm, rv, W["t.batch_norm1.weight"], W["t.batch_norm1.bias"],
                     training=True, momentum=momentum, eps=1e-5)
    return [y, torch.stack([rm, rv])]


def run_case(netc, runner, tmp, case):
    name, shape, body, tname, fn = case[:5]
    entry = case[5] if len(case) > 5 else "infer"
    n, _, h, w = shape
    extra = "".join(" + 0 * sum(%s)" % v for v in "uvw" if ("\n%s = " % v) in "\n" + body)
    src = HEAD % (", ".join(map(str, shape)), n, h, w) + body + "\n" + TAIL % extra
    if entry == "train":
        src += "minimize cross_entropy(logits, mask) with sgd(lr = 0.1)\n"
    model = os.path.join(tmp, "case.net")
    with open(model, "w") as f:
        f.write(src)
    graph, dump = os.path.join(tmp, "case.netg"), os.path.join(tmp, "case.safetensors")
    for cmd in ([netc, model, "-o", graph], [runner, graph, dump, entry]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            return False, "%s failed: %s" % (os.path.basename(cmd[0]), r.stderr.strip())
    W = read_safetensors(dump)
    names = tname if isinstance(tname, list) else [tname]
    for t in names:
        if t not in W:
            return False, "no tensor %s in the dump (have %s)" % (t, ", ".join(sorted(W)))
    with torch.no_grad():
        wants = fn(W, W["image"])
    wants = wants if isinstance(wants, list) else [wants]
    msgs, ok = [], True
    for t, want in zip(names, wants):
        got = W[t]
        if tuple(got.shape) != tuple(want.shape):
            return False, "%s: shape %s, torch %s" % (t, tuple(got.shape), tuple(want.shape))
        scale = max(1.0, want.abs().max().item())
        err = (got.double() - want.double()).abs().max().item() / scale
        ok &= err <= 1e-5
        msgs.append("%smax error %.3g (relative to max(1, largest |value|) %.3g)"
                    % (t + ": " if len(names) > 1 else "", err, scale))
    return ok, "; ".join(msgs)


def main():
    netc, runner = sys.argv[1], sys.argv[2]
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            ok, msg = run_case(netc, runner, tmp, case)
            print("%s - %s vs torch: %s" % ("ok" if ok else "FAIL", case[0], msg))
            fails += not ok
    print("%d of %d ops match torch %s" % (len(CASES) - fails, len(CASES), torch.__version__))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
