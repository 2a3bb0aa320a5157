/* gen_data.c — writes a synthetic segmentation dataset for netrun: noisy gray
 * images holding a few small objects whose class shows in their shape,
 * brightness and texture, and 8-bit gray masks whose pixel value is the class.
 * Same arguments, same files: everything comes from --seed through xoshiro256**. */
#define _POSIX_C_SOURCE 200809L
#include "png.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
    "usage: gen_data --out DIR [--count N=200] [--size S=64] [--classes K=32]\n"
    "                [--seed N=1] [--max-objects M=3] [--val-count N=0]\n"
    "Writes DIR/images/img_NNNN.png and DIR/masks/img_NNNN.png (and, with\n"
    "--val-count, DIR/val/images and DIR/val/masks from a separate stream).\n";

/* ---- random numbers ---------------------------------------------------- */

typedef struct {
    uint64_t s[4];
} rng_t;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng_t *r) /* xoshiro256** */
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
    s[2] ^= t, s[3] = rotl(s[3], 45);
    return out;
}

/* The generator of sample i of split (0 train, 1 val): independent of the
 * other samples, so --count does not change what each sample looks like. */
static void rng_seed(rng_t *r, uint64_t seed, uint64_t split, uint64_t i)
{
    uint64_t x = seed, h = ng_splitmix64_next(&x);
    x = h ^ (split << 40) ^ i;
    for (int k = 0; k < 4; k++)
        r->s[k] = ng_splitmix64_next(&x);
}

static double rng_unit(rng_t *r) /* [0,1) */
{
    return ng_unit(rng_next(r));
}

static int rng_int(rng_t *r, int lo, int hi) /* [lo,hi] */
{
    return lo + (int)(rng_unit(r) * (double)(hi - lo + 1));
}

static double rng_gauss(rng_t *r) /* N(0,1), Box-Muller */
{
    double u = 1.0 - rng_unit(r), v = rng_unit(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- what a class looks like -------------------------------------------- */

/* Class k >= 1 is object number j = k-1.  Brightness is the first cue:
 * up to 8 levels spread evenly over 0.45..1.0 (level j % 8), then the shape
 * (disk, square, ring, plus: (j / 8) % 4), then a texture (solid or dark
 * diagonal stripes, darker than any background: j / 32).  So a few classes
 * differ by brightness alone, and 32 classes by brightness and shape. */
enum { SHAPE_DISK, SHAPE_SQUARE, SHAPE_RING, SHAPE_PLUS, N_SHAPES };

typedef struct {
    int shape, striped;
    double level; /* intensity in [0,1] */
} look_t;

static look_t class_look(int k, int classes)
{
    int j = k - 1, n_levels = classes - 1 < 8 ? classes - 1 : 8;
    look_t l = {(j / n_levels) % N_SHAPES, (j / (n_levels * N_SHAPES)) % 2, 0.45};
    if (n_levels > 1)
        l.level = 0.45 + 0.55 * (double)(j % n_levels) / (double)(n_levels - 1);
    return l;
}

/* Does the point (dx,dy) from the centre lie in the shape of radius r? */
static int in_shape(int shape, double dx, double dy, double r)
{
    double ax = fabs(dx), ay = fabs(dy);
    switch (shape) {
    case SHAPE_DISK: return dx * dx + dy * dy <= r * r;
    case SHAPE_SQUARE: return ax <= 0.85 * r && ay <= 0.85 * r;
    case SHAPE_RING: return dx * dx + dy * dy <= r * r &&
                            dx * dx + dy * dy > 0.25 * r * r;
    default: return (ax <= 0.4 * r && ay <= r) || (ay <= 0.4 * r && ax <= r);
    }
}

/* ---- one sample ---------------------------------------------------------- */

typedef struct {
    int size, classes, max_objects;
} params;

/* Draw sample into img (S,S) and mask (S,S). */
static void make_sample(const params *p, rng_t *r, uint8_t *img, uint8_t *mask)
{
    int S = p->size;
    double *v = malloc(sizeof *v * (size_t)S * (size_t)S);
    if (!v) {
        fprintf(stderr, "gen_data: out of memory\n");
        exit(1);
    }
    /* background: 0.25 with a slow gradient of +-0.05 in a random direction */
    double a = 6.283185307179586 * rng_unit(r), ca = cos(a), sa = sin(a);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double t = ((x + 0.5) / S - 0.5) * ca + ((y + 0.5) / S - 0.5) * sa;
            v[y * S + x] = 0.25 + 0.1 * t;
            mask[y * S + x] = 0;
        }

    /* objects: 0..M of them, not overlapping, wholly inside */
    double cx[64], cy[64], br[64];
    int n_obj = rng_int(r, 0, p->max_objects), placed = 0;
    double rmin = S / 16.0, rmax = S / 11.0;
    for (int o = 0; o < n_obj && placed < 64; o++) {
        int k = rng_int(r, 1, p->classes - 1);
        look_t l = class_look(k, p->classes);
        double rad = rmin + (rmax - rmin) * rng_unit(r);
        double bound = 1.25 * rad + 1.0; /* covers every shape */
        int ok = 0;
        double x0 = 0, y0 = 0;
        for (int tries = 0; tries < 100 && !ok && S > 2 * bound; tries++) {
            x0 = bound + (S - 2 * bound) * rng_unit(r);
            y0 = bound + (S - 2 * bound) * rng_unit(r);
            ok = 1;
            for (int q = 0; q < placed && ok; q++) {
                double dx = x0 - cx[q], dy = y0 - cy[q];
                ok = dx * dx + dy * dy > (bound + br[q] + 1) * (bound + br[q] + 1);
            }
        }
        if (!ok)
            continue;
        cx[placed] = x0, cy[placed] = y0, br[placed] = bound, placed++;
        int xa = (int)(x0 - bound), xb = (int)(x0 + bound) + 1;
        int ya = (int)(y0 - bound), yb = (int)(y0 + bound) + 1;
        for (int y = ya < 0 ? 0 : ya; y < S && y <= yb; y++)
            for (int x = xa < 0 ? 0 : xa; x < S && x <= xb; x++) {
                if (!in_shape(l.shape, x + 0.5 - x0, y + 0.5 - y0, rad))
                    continue;
                int dark = l.striped && ((x + y) >> 1) % 2;
                v[y * S + x] = dark ? 0.05 : l.level;
                mask[y * S + x] = (uint8_t)k;
            }
    }

    for (int i = 0; i < S * S; i++) {
        double g = v[i] + 0.05 * rng_gauss(r);
        g = g < 0 ? 0 : g > 1 ? 1 : g;
        img[i] = (uint8_t)(g * 255.0 + 0.5);
    }
    free(v);
}

/* ---- files ---------------------------------------------------------------- */

static int make_dir(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* Write n samples of split into root/images and root/masks, adding the
 * pixel count of each class to counts. */
static int write_split(const params *p, uint64_t seed, int split,
                       const char *root, int n, int64_t *counts)
{
    char dir_img[4096], dir_mask[4096], path[4200], err[512];
    snprintf(dir_img, sizeof dir_img, "%s/images", root);
    snprintf(dir_mask, sizeof dir_mask, "%s/masks", root);
    if (make_dir(dir_img) < 0 || make_dir(dir_mask) < 0) {
        fprintf(stderr, "gen_data: cannot create %s: %s\n", dir_img,
                strerror(errno));
        return -1;
    }
    size_t hw = (size_t)p->size * (size_t)p->size;
    uint8_t *img = malloc(hw), *mask = malloc(hw);
    if (!img || !mask) {
        fprintf(stderr, "gen_data: out of memory\n");
        free(img), free(mask);
        return -1;
    }
    int digits = 4;
    for (int m = 10000; m <= n - 1 && digits < 9; m *= 10)
        digits++;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        rng_t r;
        rng_seed(&r, seed, (uint64_t)split, (uint64_t)i);
        make_sample(p, &r, img, mask);
        for (size_t q = 0; q < hw; q++)
            counts[mask[q]]++;
        snprintf(path, sizeof path, "%s/img_%0*d.png", dir_img, digits, i);
        if (nr_png_write_gray8(path, p->size, p->size, img, err, sizeof err) < 0)
            rc = -1;
        snprintf(path, sizeof path, "%s/img_%0*d.png", dir_mask, digits, i);
        if (rc == 0 &&
            nr_png_write_gray8(path, p->size, p->size, mask, err, sizeof err) < 0)
            rc = -1;
        if (rc < 0)
            fprintf(stderr, "gen_data: %s\n", err);
    }
    free(img);
    free(mask);
    return rc;
}

/* ---- main ----------------------------------------------------------------- */

static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "gen_data: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    int count = 200, size = 64, classes = 32, max_objects = 3, val_count = 0;
    unsigned long long seed = 1;
    static const char *const opts[] = {"--out", "--count", "--size",
                                       "--classes", "--max-objects",
                                       "--val-count", "--seed"};
    for (int i = 1; i < argc; i += 2) {
        const char *opt = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, known = 0;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        for (size_t k = 0; k < sizeof opts / sizeof *opts; k++)
            known |= strcmp(opt, opts[k]) == 0;
        if (!known)
            return bad_usage("unknown option '%s'", opt);
        if (!arg)
            return bad_usage("%s needs a value", opt);
        if (strcmp(opt, "--out") == 0)
            out = arg;
        else if (strcmp(opt, "--count") == 0)
            bad = parse_int(arg, 1, 100000000, &count);
        else if (strcmp(opt, "--size") == 0)
            bad = parse_int(arg, 16, 8192, &size);
        else if (strcmp(opt, "--classes") == 0)
            bad = parse_int(arg, 2, 255, &classes);
        else if (strcmp(opt, "--max-objects") == 0)
            bad = parse_int(arg, 0, 64, &max_objects);
        else if (strcmp(opt, "--val-count") == 0)
            bad = parse_int(arg, 0, 100000000, &val_count);
        else if (strcmp(opt, "--seed") == 0) {
            char *end;
            errno = 0;
            seed = strtoull(arg, &end, 10);
            bad = errno || end == arg || *end || arg[0] == '-';
        }
        if (bad)
            return bad_usage("bad value for %s", opt);
    }
    if (!out)
        return bad_usage("%s", "--out DIR is required");

    double t0 = ng_now();
    params p = {size, classes, max_objects};
    int64_t counts[256] = {0}, val_counts[256] = {0};
    if (write_split(&p, seed, 0, out, count, counts) < 0)
        return 1;
    if (val_count > 0) {
        char val_dir[4096];
        snprintf(val_dir, sizeof val_dir, "%s/val", out);
        if (write_split(&p, seed, 1, val_dir, val_count, val_counts) < 0)
            return 1;
    }
    double secs = ng_now() - t0;

    /* class statistics over the training split */
    int64_t total = 0, fg_min = INT64_MAX, fg_max = 0;
    int present = 0, k_min = 0, k_max = 0;
    for (int k = 0; k < classes; k++)
        total += counts[k];
    for (int k = 1; k < classes; k++) {
        if (counts[k] > 0)
            present++;
        if (counts[k] < fg_min)
            fg_min = counts[k], k_min = k;
        if (counts[k] > fg_max)
            fg_max = counts[k], k_max = k;
    }
    printf("gen_data: wrote %d samples", count);
    if (val_count > 0)
        printf(" + %d validation samples in %s/val", val_count, out);
    printf(" (%dx%d gray, %d classes, seed %llu) to %s in %.2f s\n", size, size,
           classes, seed, out, secs);
    printf("class 0 (background): %.2f%% of pixels; classes 1..%d: %d present, "
           "%lld..%lld px each (min class %d, max class %d)\n",
           100.0 * (double)counts[0] / (double)total, classes - 1, present,
           (long long)fg_min, (long long)fg_max, k_min, k_max);
    printf("pixels per class:");
    for (int k = 0; k < classes; k++)
        printf(" %lld", (long long)counts[k]);
    printf("\n");
    return 0;
}
