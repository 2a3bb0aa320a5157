/* test_postprocess.c — runtime/jobs/components.c, postprocess.c and
 * calibration.c: connected components against a flood fill on random masks
 * (8-connected, numbered in raster order, sizes), post-processing applied
 * by hand, chosen by nnU-Net's rule on a set built so that one step helps and
 * one would hurt a class, its file written and read back and bad files
 * refused with the file and key named; the ECE of bins worked out by hand,
 * and the temperature fit recovering the temperature that made the data.
 * Prints "ok - name" / "FAIL - name: detail"; exits nonzero on failure. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibration.h"
#include "check.h"
#include "components.h"
#include "postprocess.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* Flood fill from (y, x) with label l over the 8-neighbourhood; returns the
 * size.  stack: h * w ints. */
static int64_t fill(const uint8_t *m, int h, int w, int32_t *lab, int y, int x, int32_t l, int *stack)
{
    int64_t n = 0;
    int top = 0;
    stack[top++] = y * w + x;
    lab[y * w + x] = l;
    while (top) {
        int p = stack[--top], py = p / w, px = p % w;
        n++;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int qy = py + dy, qx = px + dx;
                if (qy < 0 || qy >= h || qx < 0 || qx >= w || !m[qy * w + qx] || lab[qy * w + qx])
                    continue;
                lab[qy * w + qx] = l;
                stack[top++] = qy * w + qx;
            }
    }
    return n;
}

static void test_components(void)
{
    enum { H = 37, W = 41 };
    static uint8_t m[H * W];
    static int32_t lab[H * W], ref[H * W];
    static int64_t size[H * W], rsize[H * W];
    static int stack[H * W];
    int bad = 0, total = 0;
    for (int trial = 0; trial < 30; trial++) {
        int dens = 10 + trial * 3; /* percent set */
        for (int i = 0; i < H * W; i++)
            m[i] = (int)(next() % 100) < dens;
        if (trial == 0) /* a checkerboard: every set pixel touches its diagonal neighbours only */
            for (int i = 0; i < H * W; i++)
                m[i] = (i / W + i % W) % 2 == 0;
        int n = nr_cc_label(m, H, W, lab, size);
        memset(ref, 0, sizeof ref);
        int32_t rn = 0;
        for (int i = 0; i < H * W; i++)
            if (m[i] && !ref[i]) {
                rn++;
                rsize[rn] = fill(m, H, W, ref, i / W, i % W, rn, stack);
            }
        bad += n != rn || memcmp(lab, ref, sizeof lab) != 0;
        for (int l = 1; l <= n && n == rn; l++)
            bad += size[l] != rsize[l];
        total += n;
    }
    check(bad == 0, "components: the 8-connected labelling and sizes of a flood fill, raster order (30 masks)",
          "%d differ (of %d components)", bad, total);
    memset(m, 0, sizeof m);
    check(nr_cc_label(m, H, W, lab, size) == 0, "components: an empty mask has none", "");
    for (int i = 0; i < H * W; i++)
        m[i] = (i / W) % 2 == 0 && (i % W) % 2 == 0;
    check(nr_cc_label(m, H, W, lab, size) == nr_cc_max(H, W), "components: isolated pixels reach nr_cc_max", "");
}

/* A 1 x 12 strip: class 1 at x 0..3 (4 px) and x 6 (1 px), class 2 at x 9..10. */
static void test_apply(void)
{
    nr_postprocess pp = {.k = 3};
    uint8_t p[12] = {1, 1, 1, 1, 0, 0, 1, 0, 0, 2, 2, 0};
    pp.largest[1] = 1;
    nr_post_apply(&pp, p, 1, 12);
    const uint8_t want1[12] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 2, 2, 0};
    check(!memcmp(p, want1, 12), "apply: keep the largest component (the rest becomes class 0)", "");
    uint8_t q[12] = {1, 1, 1, 1, 0, 0, 1, 0, 0, 2, 2, 0};
    memset(&pp, 0, sizeof pp);
    pp.k = 3;
    pp.min_size[1] = 4, pp.min_size[2] = 3;
    nr_post_apply(&pp, q, 1, 12);
    const uint8_t want2[12] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    check(!memcmp(q, want2, 12), "apply: remove the components below a size, per class", "");
}

/* Four 1 x 10 images, 3 classes.  Class 1: the truth one run, the
 * prediction the same run plus a stray pixel far away (keeping its largest
 * component helps).  Class 2: two true runs, both predicted (keeping the
 * largest alone would remove a true one: Dice of class 2 falls, refused). */
static void test_choose(void)
{
    static const int32_t t[4][10] = {{1, 1, 1, 0, 0, 0, 0, 0, 0, 0},
                                     {0, 0, 2, 2, 0, 0, 0, 2, 0, 0},
                                     {0, 1, 1, 1, 1, 0, 0, 0, 0, 0},
                                     {2, 2, 0, 0, 0, 2, 0, 0, 0, 0}};
    static const uint8_t p[4][10] = {{1, 1, 1, 0, 0, 0, 0, 0, 1, 0},
                                     {0, 0, 2, 2, 0, 0, 0, 2, 0, 0},
                                     {0, 1, 1, 1, 1, 0, 0, 0, 0, 1},
                                     {2, 2, 0, 0, 0, 2, 0, 0, 0, 0}};
    nr_post_set set;
    nr_post_set_init(&set, 4);
    for (int i = 0; i < 4; i++)
        nr_post_keep(&set, i, t[i], p[i], 1, 10);
    nr_postprocess pp;
    char *log = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&log, &len);
    int rc = nr_post_choose(&set, 3, 255, &pp, f);
    fclose(f);
    /* class 1's Dice per image: 6/7 and 8/9 before, 1 and 1 after; class 2's
     * stays 1; the foreground mean (class means) goes from
     * ((6/7 + 8/9) / 2 + 1) / 2 to 1 */
    double before = ((6.0 / 7 + 8.0 / 9) / 2 + 1) / 2;
    check(rc == 0 && pp.largest[1] && !pp.largest[2] && pp.min_size[2] == 0,
          "choose: keeps class 1's largest component, refuses the step that hurts class 2", "%d %d %d %lld\n%s", rc,
          pp.largest[1], pp.largest[2], (long long)pp.min_size[2], log);
    check(fabs(pp.dice_before - before) < 1e-12 && fabs(pp.dice_after - 1) < 1e-12,
          "choose: the foreground mean Dice before and after", "%.17g %.17g", pp.dice_before, pp.dice_after);
    free(log);
    nr_post_set_free(&set);
    nr_post_set_free(&set);

    char path[512], err[512];
    snprintf(path, sizeof path, "%s", P("pp.json"));
    nr_postprocess back;
    pp.min_size[2] = 7;
    check(nr_post_save(path, &pp, "val", err, sizeof err) == 0 && nr_post_load(path, 3, &back, err, sizeof err) == 0 &&
              back.largest[1] && !back.largest[2] && back.min_size[2] == 7 && back.dice_after == pp.dice_after,
          "file: written and read back", "%s", err);
    check(nr_post_load(path, 4, &back, err, sizeof err) != 0 && strstr(err, path) && strstr(err, "\"classes\""),
          "file: another class count is refused, naming the file and key", "%s", err);
    static const struct {
        const char *text, *key;
    } bad[] = {
        {"{\"kind\":\"netrun postprocessing\",\"classes\":3,\"keep_largest\":[3],\"remove_smaller_than\":[]}",
         "\"keep_largest\""},
        {"{\"kind\":\"netrun postprocessing\",\"classes\":3,\"keep_largest\":[],\"remove_smaller_than\":"
         "[{\"class\":1,\"pixels\":0}]}",
         "\"pixels\""},
        {"{\"kind\":\"netrun postprocessing\",\"classes\":3,\"keep_largest\":{}}", "\"keep_largest\""},
        {"{\"kind\":\"something else\"}", "\"kind\""},
        {"{\"kind\":\"netrun postprocessing\",", "1:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        FILE *g = fopen(path, "w");
        fputs(bad[i].text, g);
        fclose(g);
        int r = nr_post_load(path, 3, &back, err, sizeof err);
        check(r != 0 && strstr(err, path) && strstr(err, bad[i].key), "file: a bad file is refused", "%s: %s",
              bad[i].text, err);
    }
    check(nr_post_load("/nonexistent/pp.json", 3, &back, err, sizeof err) != 0 && strstr(err, "/nonexistent/pp.json"),
          "file: a missing file is named", "%s", err);
}

static void test_calibration(void)
{
    /* two classes, 1 x 4 pixels: foreground probabilities 0.1, 0.1, 0.9,
     * 0.95, labels 0, 1, 1, 1: bin 1 holds 0.1 twice (one hit), bin 13
     * holds 0.9 (hit), bin 14 0.95 (hit).  ECE = 2/4 |0.1 - 0.5| +
     * 1/4 |0.9 - 1| + 1/4 |0.95 - 1| = 0.2 + 0.025 + 0.0125 */
    const float probs[8] = {0.9f, 0.9f, 0.1f, 0.05f, 0.1f, 0.1f, 0.9f, 0.95f};
    const int32_t truth[4] = {0, 1, 1, 1};
    nr_calibration cal;
    nr_calib_init(&cal, 2, 1.0, 0, 1);
    nr_calib_add(&cal, probs, truth, 1, 4, 255);
    double e = nr_calib_ece(&cal);
    check(fabs(e - 0.2375) < 1e-6, "ECE of four pixels by hand", "%.9g", e);
    nr_calib_free(&cal);

    /* 3 classes; logits z drawn at random, the labels drawn from
     * softmax(z / 2), the model's probabilities softmax(z): the fit finds T
     * near 2 and lowers the NLL and ECE */
    enum { H = 64, W = 64, K = 3 };
    static float pr[K * H * W];
    static int32_t lab[H * W];
    nr_calib_init(&cal, K, 1.0, 1, 4);
    for (int img = 0; img < 4; img++) {
        for (int p = 0; p < H * W; p++) {
            double z[K], s = 0, s2 = 0, u = next() / 4294967296.0;
            for (int c = 0; c < K; c++)
                z[c] = 6.0 * (next() / 4294967296.0 - 0.5), s += exp(z[c]), s2 += exp(z[c] / 2);
            int y = K - 1;
            for (int c = 0; c < K; c++) {
                u -= exp(z[c] / 2) / s2;
                if (u < 0) {
                    y = c;
                    break;
                }
            }
            for (int c = 0; c < K; c++)
                pr[c * H * W + p] = (float)(exp(z[c]) / s);
            lab[p] = y;
        }
        nr_calib_add(&cal, pr, lab, H, W, 255);
    }
    nr_calib_fit_result r;
    nr_calib_fit(&cal, &r);
    check(fabs(r.temperature - 2) < 0.15 && r.nll_after < r.nll_before && r.ece_after < r.ece_before &&
              r.pixels == (size_t)4 * H * W,
          "temperature fit: recovers T = 2 from labels drawn at T = 2", "T %.4f, NLL %.4f -> %.4f, ECE %.4f -> %.4f",
          r.temperature, r.nll_before, r.nll_after, r.ece_before, r.ece_after);
    nr_calib_free(&cal);

    char path[512], err[512];
    double t = 0;
    snprintf(path, sizeof path, "%s", P("t.json"));
    check(nr_calib_save(path, &r, "val", err, sizeof err) == 0 && nr_calib_load(path, &t, err, sizeof err) == 0 &&
              fabs(t - r.temperature) < 1e-8,
          "temperature file: written and read back", "%s", err);
    FILE *g = fopen(path, "w");
    fputs("{\"kind\":\"netrun temperature\",\"temperature\":-1}", g);
    fclose(g);
    check(nr_calib_load(path, &t, err, sizeof err) != 0 && strstr(err, path) && strstr(err, "\"temperature\""),
          "temperature file: a bad value is refused, naming the file and key", "%s", err);
}

int main(void)
{
    if (tmpdir_make("test_postprocess") != 0)
        return 1;
    test_components();
    test_apply();
    test_choose();
    test_calibration();
    return check_done();
}
