#!/usr/bin/python3
"""gen_glyphs.py — a second synthetic segmentation benchmark, unlike gen_data.

gen_data draws simple shapes whose class shows in their outline, brightness and
texture.  Here the class is a glyph's shape only: each object is a character
rendered from one of Debian's DejaVu fonts (six faces: sans, serif, mono, each
regular and bold) at a random scale, rotation and extra stroke, in a random
contrast against a textured, noisy background, among clutter that carries no
class (strokes, rings and glyphs outside the class set, drawn behind and over
the objects).  Class frequencies are skewed (class k drawn with weight
k^-skew), so the last classes are the rare ones, and with one object per image
about 98-99% of the pixels are background, as in the user's data.

Same arguments, same files: every sample comes from its own generator seeded by
(seed, split, index), so --count does not change what each sample looks like.
Writes DIR/images/img_NNNN.png (8-bit gray) and DIR/masks/img_NNNN.png (pixel =
class), and with --val-count DIR/val/{images,masks} from a separate stream: the
layout gen_data writes, so every netrun command and study script reads either.

A benchmark generator (python3-numpy, python3-pil, fonts-dejavu-core), not part
of netrun.
"""
import argparse
import functools
import math
import os
import sys
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf",
         "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"]
# class k (1..) is CLASS_GLYPHS[k-1]: shapes that stay distinct under rotation
# (no 6/9, M/W, N/Z, p/d pairs); clutter glyphs are never a class
CLASS_GLYPHS = "AKR4EFGHJL3T2YB5Q7?&#%@PSUXCV8$hkntyaefgr+<"
CLUTTER_GLYPHS = "il|/()[]{}-_=~^*:;.,"
SS = 4  # glyphs are drawn at SS times the image's scale, then box-filtered down

USAGE_EPILOG = "Prints the share of each class over the training split, as gen_data does."


@functools.lru_cache(maxsize=None)
def font(face, px):
    """One of the six faces at one pixel size, loaded once."""
    return ImageFont.truetype(os.path.join(FONT_DIR, FONTS[face]), px)


def glyph_alpha(rng, ch, height, stroke_frac, angle):
    """Coverage in [0, 1] of one glyph about `height` pixels tall, rotated by
    `angle` degrees, with a stroke widened by stroke_frac of its height."""
    face = int(rng.integers(len(FONTS)))
    px = max(8, int(round(height * SS * 1.35)))  # font size to cap height, roughly
    stroke = int(round(stroke_frac * height * SS))
    box = font(face, px).getbbox(ch, stroke_width=stroke)
    w, h = box[2] - box[0] + 2 * SS, box[3] - box[1] + 2 * SS
    canvas = Image.new("L", (w, h), 0)
    ImageDraw.Draw(canvas).text((SS - box[0], SS - box[1]), ch, font=font(face, px), fill=255,
                                stroke_width=stroke, stroke_fill=255)
    canvas = canvas.rotate(angle, resample=Image.BILINEAR, expand=True)
    # down to image scale by box filtering (the canvas cropped to a multiple of SS)
    a = np.asarray(canvas, dtype=np.float32) / 255.0
    hh, ww = a.shape[0] // SS * SS, a.shape[1] // SS * SS
    a = a[:hh, :ww].reshape(hh // SS, SS, ww // SS, SS).mean(axis=(1, 3))
    return a


def background(rng, size):
    """A gray level, a few oriented waves, coarse blotches and pixel noise."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.full((size, size), rng.uniform(0.25, 0.75), np.float32)
    for _ in range(int(rng.integers(2, 6))):
        theta, freq = rng.uniform(0, math.pi), rng.uniform(1.5, 12.0)
        phase, amp = rng.uniform(0, 2 * math.pi), rng.uniform(0.02, 0.08)
        img += amp * np.sin(2 * math.pi * freq * (x * math.cos(theta) + y * math.sin(theta)) + phase)
    cells = int(rng.integers(3, 9))
    coarse = Image.fromarray(rng.normal(0, 1, (cells, cells)).astype(np.float32), mode="F")
    img += rng.uniform(0.03, 0.12) * np.asarray(coarse.resize((size, size), Image.BICUBIC))
    return img, rng.uniform(0.015, 0.07)


def paint(img, a, top, left, value):
    """Blend coverage a at (top, left) toward value; returns the part of a
    that lies inside the image and its slices."""
    h, w = a.shape
    size = img.shape[0]
    t0, l0 = max(0, top), max(0, left)
    t1, l1 = min(size, top + h), min(size, left + w)
    if t1 <= t0 or l1 <= l0:
        return None, None
    part = a[t0 - top:t1 - top, l0 - left:l1 - left]
    region = (slice(t0, t1), slice(l0, l1))
    img[region] = img[region] * (1 - part) + value * part
    return part, region


def clutter(rng, img, size, count):
    """Strokes, rings and non-class glyphs: texture with edges, no class."""
    for _ in range(count):
        kind = int(rng.integers(3))
        value = float(np.clip(rng.uniform(-0.4, 0.4) + img.mean(), 0, 1))
        if kind == 2:
            ch = CLUTTER_GLYPHS[int(rng.integers(len(CLUTTER_GLYPHS)))]
            a = glyph_alpha(rng, ch, rng.uniform(0.15, 0.45) * size, rng.uniform(0, 0.05),
                            rng.uniform(-180, 180))
        else:
            big = size * SS
            canvas = Image.new("L", (big, big), 0)
            d = ImageDraw.Draw(canvas)
            width = int(rng.integers(SS, 3 * SS))
            pts = [tuple(rng.uniform(0, big, 2)) for _ in range(2)]
            if kind == 0:
                d.line(pts[0] + pts[1], fill=255, width=width)
            else:
                r = rng.uniform(0.05, 0.25) * big
                cx, cy = pts[0]
                d.ellipse((cx - r, cy - r * rng.uniform(0.5, 1), cx + r, cy + r), outline=255, width=width)
            a = np.asarray(canvas, np.float32).reshape(size, SS, size, SS).mean(axis=(1, 3)) / 255.0
        top = int(rng.integers(-a.shape[0] // 2, size)) if kind == 2 else 0
        left = int(rng.integers(-a.shape[1] // 2, size)) if kind == 2 else 0
        paint(img, a * rng.uniform(0.4, 1.0), top, left, value)


def sample(seed, split, index, size, classes, max_objects, weights):
    """One image and its mask."""
    rng = np.random.default_rng([seed, split, index])
    img, noise = background(rng, size)
    mask = np.zeros((size, size), np.uint8)
    clutter(rng, img, size, int(rng.integers(1, 4)))
    for _ in range(int(rng.integers(1, max_objects + 1)) if max_objects > 0 else 0):
        k = 1 + int(rng.choice(classes - 1, p=weights))
        a = glyph_alpha(rng, CLASS_GLYPHS[k - 1], rng.uniform(0.11, 0.24) * size,
                        rng.uniform(0.0, 0.06), rng.uniform(-40, 40))
        h, w = a.shape
        top = int(rng.integers(0, max(1, size - h + 1)))
        left = int(rng.integers(0, max(1, size - w + 1)))
        local = img[top:top + h, left:left + w].mean()
        contrast = rng.uniform(0.18, 0.45) * (1 if rng.random() < 0.5 else -1)
        value = float(np.clip(local + contrast, 0.02, 0.98))
        part, region = paint(img, a, top, left, value)
        if part is not None:
            mask[region][part >= 0.5] = k
    if rng.random() < 0.5:  # a stroke over the objects now and then: occlusion
        clutter(rng, img, size, 1)
    img += rng.normal(0, noise, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), mask


def write_split(args, split, root, count, counts, weights):
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    os.makedirs(os.path.join(root, "masks"), exist_ok=True)
    digits = max(4, len(str(count - 1)))
    for i in range(count):
        img, mask = sample(args.seed, split, i, args.size, args.classes, args.max_objects, weights)
        name = "img_%0*d.png" % (digits, i)
        Image.fromarray(img, mode="L").save(os.path.join(root, "images", name))
        Image.fromarray(mask, mode="L").save(os.path.join(root, "masks", name))
        counts += np.bincount(mask.ravel(), minlength=args.classes)[:args.classes]


def main():
    p = argparse.ArgumentParser(prog="gen_glyphs", description=__doc__.split("\n\n")[0],
                                epilog=USAGE_EPILOG)
    p.add_argument("--out", required=True, help="the dataset folder to write")
    p.add_argument("--count", type=int, default=200, help="training samples (200)")
    p.add_argument("--size", type=int, default=64, help="image side in pixels (64)")
    p.add_argument("--classes", type=int, default=32,
                   help="classes including background (32, at most %d)" % (len(CLASS_GLYPHS) + 1))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-objects", type=int, default=1, help="objects per image, at most (1)")
    p.add_argument("--skew", type=float, default=0.7,
                   help="class k is drawn with weight k^-skew (0.7: the last of 31 is 11x rarer than the first)")
    p.add_argument("--val-count", type=int, default=0, help="validation samples in OUT/val (0)")
    args = p.parse_args()
    if not 2 <= args.classes <= len(CLASS_GLYPHS) + 1:
        p.error("--classes must be 2..%d, not %d" % (len(CLASS_GLYPHS) + 1, args.classes))
    if not 16 <= args.size <= 4096:
        p.error("--size must be 16..4096, not %d" % args.size)
    if args.count < 1 or args.val_count < 0 or args.max_objects < 0 or args.skew < 0:
        p.error("--count must be >= 1; --val-count, --max-objects and --skew >= 0")
    for f in FONTS:
        if not os.path.exists(os.path.join(FONT_DIR, f)):
            sys.exit("gen_glyphs: %s missing: apt-get install fonts-dejavu-core" % os.path.join(FONT_DIR, f))
    weights = np.arange(1, args.classes, dtype=np.float64) ** -args.skew
    weights /= weights.sum()

    t0 = time.monotonic()
    counts = np.zeros(args.classes, np.int64)
    write_split(args, 0, args.out, args.count, counts, weights)
    if args.val_count > 0:
        write_split(args, 1, os.path.join(args.out, "val"), args.val_count,
                    np.zeros(args.classes, np.int64), weights)
    secs = time.monotonic() - t0

    fg = counts[1:]
    print("gen_glyphs: wrote %d samples%s (%dx%d gray, %d classes, seed %d) to %s in %.2f s"
          % (args.count, " + %d validation samples in %s/val" % (args.val_count, args.out)
             if args.val_count else "", args.size, args.size, args.classes, args.seed, args.out, secs))
    print("class 0 (background): %.2f%% of pixels; classes 1..%d: %d present, %d..%d px each "
          "(min class %d, max class %d)" % (100.0 * counts[0] / counts.sum(), args.classes - 1,
                                           int((fg > 0).sum()), fg.min(), fg.max(),
                                           1 + int(fg.argmin()), 1 + int(fg.argmax())))
    print("pixels per class: " + " ".join(str(int(c)) for c in counts))


if __name__ == "__main__":
    main()
