/* test_metrics.c — runtime/jobs/metrics.c against metrics.h's contract: the
 * confusion matrix (rows truth, columns prediction, ignored pixels not
 * counted, accumulated over calls), per-class IoU / Dice / precision /
 * recall worked out by hand, the means over the foreground classes present,
 * pixel accuracy, classes absent from truth and prediction (NAN, "absent",
 * left out of every mean), the empty matrix, the checkpoint scores, the
 * collapse warning, the JSON and table output, the argmax over classes, and
 * per_image.c's figures of each image and their nnU-Net summaries.
 * Prints "ok - name" / "FAIL - name: detail"; exits nonzero on failure. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "per_image.h"
#include "check.h"

static int near(double a, double b) { return fabs(a - b) <= 1e-12; }

/* The confusion matrix of pixel pairs (truth[i], pred[i]) over k classes,
 * ignore 255. */
static void confusion_of(nr_confusion *c, int k, const int32_t *truth, const uint8_t *pred, int n)
{
    nr_confusion_init(c, k);
    nr_confusion_add(c, truth, pred, n, 255);
}

/* Whatever f writes into a string (caller frees). */
static char *captured(void (*f)(FILE *, const void *), const void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out)
        return strdup("");
    f(out, arg);
    fclose(out);
    return buf;
}

/* Three classes, nine pixels, one ignored:
 *   (truth, pred) = (0,0) (0,0) (0,1) (0,0) (1,1) (1,0) (2,2) (255,2) (2,1)
 * so the matrix is [3 1 0; 1 1 0; 0 1 1], truth counts 4 2 2, predicted 4 3 1. */
static const int32_t T3[] = {0, 0, 0, 0, 1, 1, 2, 255, 2};
static const uint8_t P3[] = {0, 0, 1, 0, 1, 0, 2, 2, 1};

static void test_confusion(void)
{
    nr_confusion c;
    confusion_of(&c, 3, T3, P3, 9);
    const int64_t want[9] = {3, 1, 0, 1, 1, 0, 0, 1, 1};
    check(!memcmp(c.m, want, sizeof want), "confusion: rows truth, columns prediction, ignore not counted",
          "%lld %lld %lld / %lld %lld %lld / %lld %lld %lld", (long long)c.m[0], (long long)c.m[1],
          (long long)c.m[2], (long long)c.m[3], (long long)c.m[4], (long long)c.m[5], (long long)c.m[6],
          (long long)c.m[7], (long long)c.m[8]);
    /* a second call adds to the counts; reset zeroes them */
    nr_confusion_add(&c, T3, P3, 4, 255);
    check(c.m[0] == 6 && c.m[1] == 2 && c.m[4] == 1, "confusion: calls accumulate", "%lld %lld",
          (long long)c.m[0], (long long)c.m[1]);
    nr_confusion_reset(&c);
    int64_t sum = 0;
    for (int i = 0; i < 9; i++)
        sum += c.m[i];
    check(sum == 0 && c.k == 3, "confusion: reset zeroes", "sum %lld", (long long)sum);
    /* the ignore label is the caller's: with ignore 1, class 1's pixels go */
    nr_confusion_add(&c, T3, P3, 9, 1);
    check(c.m[3] == 0 && c.m[4] == 0 && c.m[0] == 3 && c.m[8] == 1, "confusion: another ignore label",
          "%lld %lld", (long long)c.m[3], (long long)c.m[4]);
    nr_confusion_free(&c);
    nr_confusion_free(NULL);
}

static void test_by_hand(void)
{
    nr_confusion c;
    confusion_of(&c, 3, T3, P3, 9);
    nr_metrics m;
    int rc = nr_metrics_compute(&c, &m);
    /* class 0: tp 3 fn 1 fp 1; class 1: tp 1 fn 1 fp 2; class 2: tp 1 fn 1 fp 0 */
    check(rc == 0 && m.k == 3 && m.truth[0] == 4 && m.truth[1] == 2 && m.truth[2] == 2 && m.pred[0] == 4 &&
              m.pred[1] == 3 && m.pred[2] == 1,
          "by hand: pixel counts per class", "truth %lld %lld %lld pred %lld %lld %lld", (long long)m.truth[0],
          (long long)m.truth[1], (long long)m.truth[2], (long long)m.pred[0], (long long)m.pred[1],
          (long long)m.pred[2]);
    check(near(m.pixel_acc, 5.0 / 8), "by hand: pixel accuracy 5/8 (the ignored pixel not counted)", "%g",
          m.pixel_acc);
    check(near(m.iou[0], 3.0 / 5) && near(m.iou[1], 1.0 / 4) && near(m.iou[2], 1.0 / 2),
          "by hand: IoU tp / (tp + fn + fp)", "%g %g %g", m.iou[0], m.iou[1], m.iou[2]);
    check(near(m.dice[0], 6.0 / 8) && near(m.dice[1], 2.0 / 5) && near(m.dice[2], 2.0 / 3),
          "by hand: Dice 2 tp / (2 tp + fn + fp)", "%g %g %g", m.dice[0], m.dice[1], m.dice[2]);
    check(near(m.precision[0], 3.0 / 4) && near(m.precision[1], 1.0 / 3) && near(m.precision[2], 1) &&
              near(m.recall[0], 3.0 / 4) && near(m.recall[1], 1.0 / 2) && near(m.recall[2], 1.0 / 2),
          "by hand: precision and recall", "%g %g %g / %g %g %g", m.precision[0], m.precision[1],
          m.precision[2], m.recall[0], m.recall[1], m.recall[2]);
    check(near(m.miou_fg, (1.0 / 4 + 1.0 / 2) / 2) && near(m.miou, (3.0 / 5 + 1.0 / 4 + 1.0 / 2) / 3),
          "by hand: mean IoU over the foreground (classes 1, 2) and over all", "fg %g all %g", m.miou_fg, m.miou);
    check(near(m.mdice_fg, (2.0 / 5 + 2.0 / 3) / 2), "by hand: foreground mean Dice", "%g", m.mdice_fg);
    check(near(m.fw_iou, 4.0 / 8 * 3 / 5 + 2.0 / 8 / 4 + 2.0 / 8 / 2), "by hand: frequency-weighted IoU", "%g",
          m.fw_iou);
    check(near(m.worst_iou_fg, 1.0 / 4), "by hand: worst foreground IoU", "%g", m.worst_iou_fg);
    check(near(m.pred_share0, 0.5) && near(m.true_share0, 0.5) && m.fg_present == 2 && m.fg_never_predicted == 0,
          "by hand: class 0's shares, foreground classes present and predicted", "%g %g %d %d", m.pred_share0,
          m.true_share0, m.fg_present, m.fg_never_predicted);
    nr_metrics_free(&m);
    nr_metrics_free(NULL);
    nr_confusion_free(&c);
}

/* Four classes: 1 only in the truth (never predicted), 2 only predicted (a
 * false alarm), 3 nowhere. */
static void test_absent(void)
{
    const int32_t t[] = {0, 0, 0, 1, 1, 0, 255};
    const uint8_t p[] = {0, 0, 2, 0, 0, 0, 3};
    nr_confusion c;
    confusion_of(&c, 4, t, p, 7);
    nr_metrics m;
    nr_metrics_compute(&c, &m);
    check(isnan(m.iou[3]) && isnan(m.dice[3]) && isnan(m.precision[3]) && isnan(m.recall[3]),
          "absent class: no IoU, Dice, precision or recall (NAN, not 0 or 1)", "%g %g %g %g", m.iou[3], m.dice[3],
          m.precision[3], m.recall[3]);
    check(m.iou[1] == 0 && isnan(m.precision[1]) && m.recall[1] == 0, "never predicted: IoU 0, precision NAN",
          "%g %g %g", m.iou[1], m.precision[1], m.recall[1]);
    check(m.iou[2] == 0 && m.precision[2] == 0 && isnan(m.recall[2]), "false alarm only: IoU 0, recall NAN",
          "%g %g %g", m.iou[2], m.precision[2], m.recall[2]);
    /* class 0: tp 3 fn 1 fp 2 -> 1/2; the foreground mean is over 1 and 2 */
    check(near(m.miou_fg, 0) && near(m.miou, (0.5 + 0 + 0) / 3) && near(m.mdice_fg, 0),
          "absent class: left out of the means", "fg %g all %g dice %g", m.miou_fg, m.miou, m.mdice_fg);
    check(m.worst_iou_fg == 0 && m.fg_present == 1 && m.fg_never_predicted == 1,
          "worst IoU and presence count the classes of the truth only", "%g %d %d", m.worst_iou_fg, m.fg_present,
          m.fg_never_predicted);
    nr_metrics_free(&m);
    nr_confusion_free(&c);

    /* only background in truth and prediction: no foreground figure */
    const int32_t t0[] = {0, 0, 255};
    const uint8_t p0[] = {0, 0, 1};
    confusion_of(&c, 3, t0, p0, 3);
    nr_metrics_compute(&c, &m);
    check(isnan(m.miou_fg) && isnan(m.mdice_fg) && isnan(m.worst_iou_fg) && m.miou == 1 && m.pixel_acc == 1 &&
              m.fg_present == 0,
          "background only: the foreground means are NAN, not 0", "fg %g dice %g worst %g all %g", m.miou_fg,
          m.mdice_fg, m.worst_iou_fg, m.miou);
    nr_metrics_free(&m);
    nr_confusion_free(&c);

    /* nothing counted (every pixel ignored) */
    confusion_of(&c, 2, t0 + 2, p0 + 2, 1);
    nr_metrics_compute(&c, &m);
    check(isnan(m.pixel_acc) && isnan(m.miou) && isnan(m.fw_iou) && isnan(m.pred_share0) && isnan(m.iou[0]),
          "empty matrix: every figure NAN", "acc %g miou %g fw %g", m.pixel_acc, m.miou, m.fw_iou);
    check(nr_metrics_warn_collapse(stdout, &m) == 0, "empty matrix: no collapse warning", "warned");
    nr_metrics_free(&m);
    nr_confusion_free(&c);
}

static void print_json(FILE *out, const void *arg)
{
    const nr_confusion *c = arg;
    nr_metrics m;
    nr_metrics_compute(c, &m);
    nr_metrics_print_json(out, &m, c, 0.5);
    nr_metrics_free(&m);
}

static void print_table(FILE *out, const void *arg)
{
    const nr_confusion *c = arg;
    nr_metrics m;
    nr_metrics_compute(c, &m);
    nr_metrics_print(out, &m);
    nr_metrics_free(&m);
}

static void test_output(void)
{
    const int32_t t[] = {0, 0, 1, 1, 0};
    const uint8_t p[] = {0, 1, 1, 1, 0};
    nr_confusion c;
    confusion_of(&c, 3, t, p, 5);
    char *j = captured(print_json, &c);
    check(strstr(j, "{\"classes\":3,\"loss\":0.5,\"pixel_accuracy\":0.8,") && strstr(j, "\"absent\":[2]") &&
              strstr(j, "\"iou\":[0.666667,0.666667,null]") && strstr(j, "\"confusion\":[[2,1,0],[0,2,0],[0,0,0]]}"),
          "JSON: the figures, null for NAN, the absent classes, the matrix", "%s", j);
    free(j);
    char *tab = captured(print_table, &c);
    check(strstr(tab, "    2         0         0   absent from truth and prediction\n") &&
              strstr(tab, "pixel accuracy 0.8000   foreground mIoU 0.6667"),
          "table: an absent class says so", "%s", tab);
    free(tab);
    nr_confusion_free(&c);
}

static void test_score(void)
{
    nr_confusion c;
    confusion_of(&c, 3, T3, P3, 9);
    nr_metrics m;
    nr_metrics_compute(&c, &m);
    double s = 0;
    int ok = nr_metrics_score(&m, 0.25, "miou_fg", &s) == 0 && near(s, m.miou_fg);
    ok &= nr_metrics_score(&m, 0.25, "pixel_accuracy", &s) == 0 && near(s, 5.0 / 8);
    ok &= nr_metrics_score(&m, 0.25, "val_loss", &s) == 0 && s == -0.25;
    check(ok, "score: by name, val_loss as -loss", "%g", s);
    int names = 0, scored = 0;
    for (const char *const *n = nr_metric_names; *n; n++, names++)
        scored += nr_metrics_score(&m, 0.25, *n, &s) == 0;
    check(names > 0 && scored == names, "score: every name of nr_metric_names scores", "%d of %d", scored, names);
    s = 1;
    check(nr_metrics_score(&m, 0, "accuracy", &s) == -1 && s == 1, "score: an unknown name is -1", "%g", s);
    m.miou_fg = NAN;
    check(nr_metrics_score(&m, 0, "miou_fg", &s) == 0 && s == -INFINITY, "score: NAN becomes -infinity", "%g", s);
    nr_metrics_free(&m);
    nr_confusion_free(&c);
}

static void test_collapse(void)
{
    /* 90% background; every pixel predicted 0: both foreground classes never predicted */
    int32_t t[20];
    uint8_t p[20];
    for (int i = 0; i < 20; i++)
        t[i] = i < 18 ? 0 : 1 + (i & 1), p[i] = 0;
    nr_confusion c;
    confusion_of(&c, 3, t, p, 20);
    nr_metrics m;
    nr_metrics_compute(&c, &m);
    FILE *sink = fopen("/dev/null", "w");
    check(nr_metrics_warn_collapse(sink, &m) == 1, "collapse: all background predicted warns", "no warning");
    nr_metrics_free(&m);
    /* the same truth predicted right: no warning */
    nr_confusion_reset(&c);
    nr_confusion_add(&c, t, (const uint8_t[20]){[18] = 1, [19] = 2}, 20, 255);
    nr_metrics_compute(&c, &m);
    check(nr_metrics_warn_collapse(sink, &m) == 0 && m.pixel_acc == 1, "collapse: a right prediction is quiet",
          "acc %g", m.pixel_acc);
    nr_metrics_free(&m);
    fclose(sink);
    nr_confusion_free(&c);
}

static void test_argmax(void)
{
    /* 2 images of 3 classes over 600 pixels (more than one pass of 512) */
    enum { N = 2, C = 3, HW = 600 };
    float *probs = malloc(sizeof *probs * N * C * HW);
    uint8_t pred[N * HW];
    int ok = probs != NULL;
    for (int b = 0; ok && b < N; b++)
        for (int i = 0; i < HW; i++)
            for (int k = 0; k < C; k++) /* class (i + b) % 3 wins; every 7th pixel a tie of all */
                probs[(b * C + k) * HW + i] = i % 7 == 0 ? 0.25f : k == (i + b) % C ? 0.5f : 0.1f * k;
    if (ok) {
        nr_argmax_c(N, C, HW, probs, pred);
        for (int b = 0; b < N; b++)
            for (int i = 0; i < HW; i++)
                ok &= pred[b * HW + i] == (i % 7 == 0 ? 0 : (i + b) % C);
    }
    check(ok, "argmax over the classes, ties to the lowest, past the first 512 pixels", "mismatch");
    free(probs);
}

/* Per-image figures (per_image.h) of two 3-class images of 2 x 3 pixels:
 *   image 0: truth 0 0 1 / 0 1 1,  prediction 0 1 1 / 0 0 2   (class 2 hallucinated)
 *   image 1: truth 0 0 0 / 0 2 255, prediction 0 0 0 / 0 0 2  (class 2 missed, the 255 not counted;
 *            class 1 absent from both: NAN)
 * Class 1 in image 0: 3 true pixels, 2 predicted, 1 shared: Dice 2/5, IoU
 * 1/4; in image 1 undefined, so its mean is 2/5; class 2's: 0 and 0. */
static void test_per_image(void)
{
    const int32_t t0[6] = {0, 0, 1, 0, 1, 1}, t1[6] = {0, 0, 0, 0, 2, 255};
    const uint8_t p0[6] = {0, 1, 1, 0, 0, 2}, p1[6] = {0, 0, 0, 0, 0, 2};
    nr_per_image pi;
    nr_per_image_init(&pi, 3, 2, 2.0);
    nr_per_image_add(&pi, 0, t0, p0, 2, 3, 255);
    nr_per_image_add(&pi, 1, t1, p1, 2, 3, 255);
    check(near(nr_per_image_at(&pi, 0, NR_PI_DICE, 1), 0.4) && near(nr_per_image_at(&pi, 0, NR_PI_IOU, 1), 0.25),
          "per image: Dice and IoU of one class in one image", "%g %g", nr_per_image_at(&pi, 0, NR_PI_DICE, 1),
          nr_per_image_at(&pi, 0, NR_PI_IOU, 1));
    check(isnan(nr_per_image_at(&pi, 1, NR_PI_DICE, 1)) && isnan(nr_per_image_at(&pi, 1, NR_PI_HD95, 1)),
          "per image: a class absent from truth and prediction is undefined", "");
    int n;
    double d1 = nr_per_image_mean(&pi, NR_PI_DICE, 1, &n);
    check(near(d1, 0.4) && n == 1, "per image: the mean leaves out undefined images (nanmean)", "%g over %d", d1, n);
    check(nr_per_image_at(&pi, 1, NR_PI_PRED, 2) == 0 && nr_per_image_at(&pi, 1, NR_PI_TRUTH, 2) == 1,
          "per image: a prediction under an ignored label is not counted", "");
    check(nr_per_image_missed(&pi, 2) == 1 && nr_per_image_hallucinated(&pi, 2) == 1 &&
              nr_per_image_missed(&pi, 1) == 0 && isnan(nr_per_image_mean(&pi, NR_PI_HD95, 2, NULL)) &&
              nr_per_image_mean(&pi, NR_PI_NSD, 2, NULL) == 0,
          "per image: missed and hallucinated counts; HD95 undefined there, NSD 0", "");
    double fg = nr_per_image_fg_mean(&pi, NR_PI_DICE);
    check(near(fg, (0.4 + 0) / 2), "per image: foreground mean of the class means", "%g", fg);
    check(near(nr_per_image_fg_dice(&pi, 0), 0.2) && near(nr_per_image_fg_dice(&pi, 1), 0),
          "per image: an image's foreground mean Dice", "%g %g", nr_per_image_fg_dice(&pi, 0),
          nr_per_image_fg_dice(&pi, 1));
    nr_per_image_free(&pi);
    nr_per_image_free(&pi); /* freed twice: a no-op */
}

int main(void)
{
    test_confusion();
    test_by_hand();
    test_absent();
    test_output();
    test_score();
    test_collapse();
    test_argmax();
    test_per_image();
    printf("%d passed, %d failed\n", n_checks - n_fail, n_fail);
    return n_fail ? 1 : 0;
}
