/* test_surface.c — runtime/jobs/surface.c against surface.h's contract: the
 * distance transform against brute force on random masks, edges with the
 * 4-connected cross (outside = background), HD95, NSD and boundary IoU worked
 * out by hand, the empty cases, the rounding of boundary IoU's d, and the
 * crop (a mask shifted inside a larger image gives the same figures).
 * With --pairs FILE TAU it prints "hd95 nsd biou" for each record of FILE
 * (int32 h, int32 w, then h*w truth and h*w prediction bytes, 0/1), for
 * tests/scipy_surface.py's comparison with the scipy transcription. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "surface.h"

static int pairs(const char *path, double tau)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    int32_t hw[2];
    while (fread(hw, sizeof hw, 1, f) == 1) {
        size_t n = (size_t)hw[0] * hw[1];
        uint8_t *t = malloc(2 * n), *p = t + n;
        if (!t || fread(t, 1, 2 * n, f) != 2 * n) {
            fprintf(stderr, "%s: truncated record\n", path);
            free(t);
            fclose(f);
            return 1;
        }
        nr_surface s;
        if (nr_surface_compute(t, p, hw[0], hw[1], tau, &s) != 0) {
            fprintf(stderr, "out of memory\n");
            free(t);
            fclose(f);
            return 1;
        }
        printf("%.17g %.17g %.17g\n", s.hd95, s.nsd, s.biou);
        free(t);
    }
    fclose(f);
    return 0;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static void test_edt(void)
{
    int bad = 0, h = 23, w = 31;
    uint8_t feat[23 * 31];
    double d2[23 * 31];
    void *ws = malloc(nr_surface_edt_ws(h, w));
    for (int trial = 0; trial < 20; trial++) {
        int density = 1 + trial % 5; /* from one pixel in 64 to one in 4 */
        for (int i = 0; i < h * w; i++)
            feat[i] = next() % (64 >> (density + 0)) == 0;
        if (trial == 0) {
            memset(feat, 0, sizeof feat);
            feat[5 * w + 7] = 1; /* a single point */
        }
        nr_surface_edt(feat, h, w, d2, ws);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double best = INFINITY;
                for (int a = 0; a < h; a++)
                    for (int b = 0; b < w; b++)
                        if (feat[a * w + b]) {
                            double d = (double)(a - y) * (a - y) + (double)(b - x) * (b - x);
                            best = d < best ? d : best;
                        }
                bad += d2[y * w + x] != best;
            }
    }
    check(bad == 0, "edt: exact squared distances against brute force (20 random masks)", "%d wrong", bad);
    memset(feat, 0, sizeof feat);
    nr_surface_edt(feat, h, w, d2, ws);
    check(isinf(d2[0]) && isinf(d2[h * w - 1]), "edt: no feature pixel gives +inf", "%g", d2[0]);
    free(ws);
}

static void test_edges(void)
{
    /* a 3x4 block filling the top-left of a 4x5 grid: the image border is
     * background, so only (1,1) and (1,2) have all four neighbours set */
    uint8_t m[20] = {1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}, e[20];
    nr_surface_edges(m, 4, 5, e);
    const uint8_t want[20] = {1, 1, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    check(!memcmp(e, want, sizeof want), "edges: mask xor its cross erosion, outside = background", "");
}

/* A filled rectangle [y0, y0+rh) x [x0, x0+rw) in an (h, w) mask. */
static void rect(uint8_t *m, int w, int y0, int x0, int rh, int rw)
{
    for (int y = y0; y < y0 + rh; y++)
        for (int x = x0; x < x0 + rw; x++)
            m[y * w + x] = 1;
}

static void test_by_hand(void)
{
    enum { H = 40, W = 40 };
    static uint8_t t[H * W], p[H * W];
    nr_surface s;
    /* identical masks: every distance 0 */
    rect(t, W, 10, 10, 8, 8);
    rect(p, W, 10, 10, 8, 8);
    nr_surface_compute(t, p, H, W, 2, &s);
    check(s.hd95 == 0 && s.nsd == 1 && s.biou == 1, "identical masks: HD95 0, NSD 1, BIoU 1", "%g %g %g", s.hd95, s.nsd,
          s.biou);
    /* the prediction shifted right by 3: no edge pixel is more than 3 from
     * the other outline (a column 3 away, or a row within 3), and the left
     * column of t (8 pixels) and right column of p are exactly 3 away */
    memset(p, 0, sizeof p);
    rect(p, W, 10, 13, 8, 8);
    nr_surface_compute(t, p, H, W, 2, &s);
    check(fabs(s.hd95 - 3) < 1e-12, "shift by 3: HD95 3", "%g", s.hd95);
    /* one empty mask */
    memset(p, 0, sizeof p);
    nr_surface_compute(t, p, H, W, 2, &s);
    check(isnan(s.hd95) && s.nsd == 0 && s.biou == 0, "empty prediction: HD95 undefined, NSD 0, BIoU 0", "%g %g %g",
          s.hd95, s.nsd, s.biou);
    memset(t, 0, sizeof t);
    nr_surface_compute(t, p, H, W, 2, &s);
    check(isnan(s.hd95) && isnan(s.nsd) && isnan(s.biou), "both empty: all undefined", "%g %g %g", s.hd95, s.nsd,
          s.biou);
    /* a single pixel against one 5 pixels to its right: HD95 5, NSD 0 at
     * tolerance 2 and 1 at 5 */
    t[20 * W + 10] = 1, p[20 * W + 15] = 1;
    nr_surface_compute(t, p, H, W, 2, &s);
    double nsd2 = s.nsd;
    nr_surface_compute(t, p, H, W, 5, &s);
    check(s.hd95 == 5 && nsd2 == 0 && s.nsd == 1, "two points 5 apart: HD95 5, NSD 0 at 2 px, 1 at 5 px", "%g %g %g",
          s.hd95, nsd2, s.nsd);
}

static void test_percentile(void)
{
    /* truth: a 1 x 21 row; prediction: the same row with two pixels 10 rows
     * below it.  Prediction-to-truth distances: 21 zeros and two 10s;
     * numpy.percentile(., 95) of 23 values: position 20.9, between the last
     * zero and a 10: 0.9 * 10 = 9.  Truth-to-prediction: all 0. */
    enum { H = 30, W = 30 };
    static uint8_t t[H * W], p[H * W];
    rect(t, W, 5, 2, 1, 21);
    rect(p, W, 5, 2, 1, 21);
    p[15 * W + 22] = p[15 * W + 21] = 1;
    nr_surface s;
    nr_surface_compute(t, p, H, W, 2, &s);
    check(fabs(s.hd95 - 9) < 1e-12, "HD95: numpy's linear interpolation between order statistics", "%.17g", s.hd95);
    check(fabs(s.nsd - 42.0 / 44.0) < 1e-12, "NSD: 42 of 44 edge pixels within 2 px", "%.17g", s.nsd);
}

static void test_biou(void)
{
    check(nr_surface_biou_d(75, 100) == 2 && nr_surface_biou_d(105, 140) == 4 && nr_surface_biou_d(10, 10) == 1,
          "boundary IoU d: round half to even (125 * 0.02 = 2.5 -> 2, 3.5 -> 4), at least 1", "%d %d %d",
          nr_surface_biou_d(75, 100), nr_surface_biou_d(105, 140), nr_surface_biou_d(10, 10));
    /* 50 x 50, d = round(0.02 * 70.7) = 1: the band of a filled rectangle is
     * the pixels within chessboard distance 1 of the background, its outline */
    enum { H = 50, W = 50 };
    static uint8_t t[H * W], p[H * W];
    rect(t, W, 10, 10, 10, 10);
    rect(p, W, 10, 10, 10, 11);
    nr_surface s;
    nr_surface_compute(t, p, H, W, 2, &s);
    /* B(T): 100 - 8*8 = 36 pixels; B(P): 110 - 8*9 = 38; shared: rows 10 and
     * 19 over x 10..19 (20) and column 10 on rows 11..18 (8) = 28; union
     * 36 + 38 - 28 = 46 */
    check(fabs(s.biou - 28.0 / 46.0) < 1e-12, "boundary IoU of two rectangles by hand", "%.17g", s.biou);
}

static void test_crop(void)
{
    /* random blobs in a 30 x 30 image and the same placed inside 70 x 90 at
     * an offset: HD95 and NSD unchanged (boundary IoU's d depends on the
     * image size, so it is left out) */
    enum { H = 30, W = 30, H2 = 70, W2 = 90 };
    static uint8_t t[H * W], p[H * W], t2[H2 * W2], p2[H2 * W2];
    int bad = 0;
    for (int trial = 0; trial < 10; trial++) {
        memset(t2, 0, sizeof t2), memset(p2, 0, sizeof p2);
        for (int i = 0; i < H * W; i++) {
            int y = i / W, x = i % W;
            t[i] = (y - 12) * (y - 12) + (x - 14) * (x - 14) < 60 + (int)(next() % 40);
            p[i] = (y - 14) * (y - 14) + (x - 12) * (x - 12) < 50 + (int)(next() % 60);
            t2[(y + 20) * W2 + x + 33] = t[i], p2[(y + 20) * W2 + x + 33] = p[i];
        }
        nr_surface a, b;
        nr_surface_compute(t, p, H, W, 2, &a);
        nr_surface_compute(t2, p2, H2, W2, 2, &b);
        bad += a.hd95 != b.hd95 || a.nsd != b.nsd;
    }
    check(bad == 0, "HD95 and NSD do not depend on where the masks lie in the image", "%d differ", bad);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--pairs"))
        return pairs(argv[2], atof(argv[3]));
    test_edt();
    test_edges();
    test_by_hand();
    test_percentile();
    test_biou();
    test_crop();
    return check_done();
}
