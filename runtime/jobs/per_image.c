/* per_image.c — per-image IoU, Dice, HD95, NSD and boundary IoU of every
 * class, their nnU-Net summaries, and their JSON and table output
 * (per_image.h). */
#include "per_image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "json.h"
#include "metrics.h"
#include "surface.h"
#include "util.h"

int nr_per_image_init(nr_per_image *pi, int k, int n, double tau)
{
    memset(pi, 0, sizeof *pi);
    pi->k = k, pi->n = n, pi->tau = tau;
    size_t cells = (size_t)(n ? n : 1) * NR_PI_FIELDS * k;
    pi->v = malloc(sizeof *pi->v * cells);
    pi->seen = calloc((size_t)(n ? n : 1), 1);
    /* over several ranks, nr_per_image_gather's buffers now: it cannot fail
     * between collectives */
    pi->gather = nr_dist_size() > 1 ? malloc(sizeof *pi->gather * (2 * cells + (size_t)(n ? n : 1))) : NULL;
    if (!pi->v || !pi->seen || (nr_dist_size() > 1 && !pi->gather)) {
        nr_per_image_free(pi);
        return -1;
    }
    for (size_t i = 0; i < cells; i++)
        pi->v[i] = NAN;
    return 0;
}

void nr_per_image_free(nr_per_image *pi)
{
    if (!pi)
        return;
    free(pi->v);
    free(pi->seen);
    free(pi->gather);
    memset(pi, 0, sizeof *pi);
}

static double *cell(nr_per_image *pi, int i, int f, int c)
{
    return &pi->v[((size_t)i * NR_PI_FIELDS + f) * pi->k + c];
}

int nr_per_image_add(nr_per_image *pi, int idx, const int32_t *truth, const uint8_t *pred, int h, int w, int ignore)
{
    int k = pi->k;
    size_t hw = (size_t)h * w;
    int64_t tc[256] = {0}, pc[256] = {0}, tp[256] = {0};
    for (size_t p = 0; p < hw; p++) {
        int t = truth[p];
        if (t == ignore || t < 0 || t >= k || pred[p] >= k)
            continue;
        tc[t]++, pc[pred[p]]++;
        tp[t] += t == pred[p];
    }
    uint8_t *mt = malloc(2 * (hw ? hw : 1)), *mp = mt + hw;
    if (!mt)
        return -1;
    int rc = 0;
    for (int c = 0; c < k && rc == 0; c++) {
        for (int f = 0; f < NR_PI_FIELDS; f++) /* an image measured again (post-processing's choice) */
            *cell(pi, idx, f, c) = NAN;
        *cell(pi, idx, NR_PI_TRUTH, c) = (double)tc[c];
        *cell(pi, idx, NR_PI_PRED, c) = (double)pc[c];
        if (tc[c] + pc[c] == 0)
            continue; /* absent from both: every figure NAN, and no work */
        int64_t un = tc[c] + pc[c] - tp[c];
        *cell(pi, idx, NR_PI_IOU, c) = (double)tp[c] / (double)un;
        *cell(pi, idx, NR_PI_DICE, c) = 2.0 * (double)tp[c] / (double)(tc[c] + pc[c]);
        if (pi->overlap_only)
            continue;
        for (size_t p = 0; p < hw; p++) {
            int valid = truth[p] != ignore && truth[p] >= 0 && truth[p] < k && pred[p] < k;
            mt[p] = valid && truth[p] == c;
            mp[p] = valid && pred[p] == c;
        }
        nr_surface s;
        rc = nr_surface_compute(mt, mp, h, w, pi->tau, &s);
        *cell(pi, idx, NR_PI_HD95, c) = s.hd95;
        *cell(pi, idx, NR_PI_NSD, c) = s.nsd;
        *cell(pi, idx, NR_PI_BIOU, c) = s.biou;
    }
    free(mt);
    pi->seen[idx] = 1;
    return rc;
}

void nr_per_image_gather(nr_per_image *pi)
{
    if (nr_dist_size() == 1)
        return;
    /* each cell as (value, defined) summed over the ranks, which measured
     * disjoint images; NAN is "not defined" */
    size_t cells = (size_t)pi->n * NR_PI_FIELDS * pi->k;
    size_t per = (size_t)NR_PI_FIELDS * pi->k;
    double *val = pi->gather, *def = val + cells, *seen = def + cells;
    for (size_t i = 0; i < cells; i++) {
        int mine = pi->seen[i / per] && !isnan(pi->v[i]);
        val[i] = mine ? pi->v[i] : 0, def[i] = mine;
    }
    for (int i = 0; i < pi->n; i++)
        seen[i] = pi->seen[i];
    for (size_t at = 0; at < cells; at += 1 << 20) {
        int len = cells - at < (1 << 20) ? (int)(cells - at) : 1 << 20;
        nr_dist_sum_f64(val + at, len);
        nr_dist_sum_f64(def + at, len);
    }
    nr_dist_sum_f64(seen, pi->n);
    for (size_t i = 0; i < cells; i++)
        pi->v[i] = def[i] > 0 ? val[i] : NAN;
    for (int i = 0; i < pi->n; i++)
        pi->seen[i] = seen[i] > 0;
}

double nr_per_image_mean(const nr_per_image *pi, int f, int c, int *count)
{
    double sum = 0;
    int n = 0;
    for (int i = 0; i < pi->n; i++) {
        double v = nr_per_image_at(pi, i, f, c);
        if (pi->seen[i] && !isnan(v))
            sum += v, n++;
    }
    if (count)
        *count = n;
    return n ? sum / n : NAN;
}

double nr_per_image_fg_mean(const nr_per_image *pi, int f)
{
    double sum = 0;
    int n = 0;
    for (int c = 1; c < pi->k; c++) {
        double v = nr_per_image_mean(pi, f, c, NULL);
        if (!isnan(v))
            sum += v, n++;
    }
    return n ? sum / n : NAN;
}

/* Images where class c's truth count is (or is not) zero and its predicted
 * count is not (or is). */
static int one_sided(const nr_per_image *pi, int c, int in_truth)
{
    int n = 0;
    for (int i = 0; i < pi->n; i++) {
        double t = nr_per_image_at(pi, i, NR_PI_TRUTH, c), p = nr_per_image_at(pi, i, NR_PI_PRED, c);
        n += pi->seen[i] && (in_truth ? t > 0 && p == 0 : t == 0 && p > 0);
    }
    return n;
}

int nr_per_image_missed(const nr_per_image *pi, int c)
{
    return one_sided(pi, c, 1);
}
int nr_per_image_hallucinated(const nr_per_image *pi, int c)
{
    return one_sided(pi, c, 0);
}

double nr_per_image_fg_dice(const nr_per_image *pi, int i)
{
    double sum = 0;
    int n = 0;
    for (int c = 1; c < pi->k; c++) {
        double v = nr_per_image_at(pi, i, NR_PI_DICE, c);
        if (!isnan(v))
            sum += v, n++;
    }
    return n ? sum / n : NAN;
}

/* ,"key":[the class means of figure f] */
static void means(FILE *out, const nr_per_image *pi, const char *key, int f)
{
    double m[256]; /* k <= 256 (netg.h) */
    for (int c = 0; c < pi->k; c++)
        m[c] = nr_per_image_mean(pi, f, c, NULL);
    fputc(',', out);
    nr_metrics_json_array(out, key, m, pi->k);
}

/* ,"key":[per class: count(pi, c)] */
static void counts(FILE *out, const nr_per_image *pi, const char *key, int (*count)(const nr_per_image *, int))
{
    fprintf(out, ",\"%s\":[", key);
    for (int c = 0; c < pi->k; c++)
        fprintf(out, c ? ",%d" : "%d", count(pi, c));
    fputc(']', out);
}

static int defined_hd95(const nr_per_image *pi, int c)
{
    int n;
    nr_per_image_mean(pi, NR_PI_HD95, c, &n);
    return n;
}

static int defined_dice(const nr_per_image *pi, int c)
{
    int n;
    nr_per_image_mean(pi, NR_PI_DICE, c, &n);
    return n;
}

void nr_per_image_print_json(FILE *out, const nr_per_image *pi, const nr_dataset *ds)
{
    fprintf(out, ",\"aggregation\":\"pooled: pixel_accuracy, iou, dice, precision, recall, miou*, mdice_foreground "
                 "and worst_iou_foreground come from one confusion matrix over every pixel of the dataset; "
                 "per image: per_image_summary, hd95, nsd and boundary_iou are means over the images where "
                 "the figure is defined (nnU-Net)\"");
    fprintf(out, ",\"per_image_summary\":{\"images\":%d", pi->n);
    means(out, pi, "iou", NR_PI_IOU);
    means(out, pi, "dice", NR_PI_DICE);
    counts(out, pi, "defined", defined_dice);
    fprintf(out, ",\"miou_foreground\":");
    nr_metrics_json_num(out, nr_per_image_fg_mean(pi, NR_PI_IOU));
    fprintf(out, ",\"mdice_foreground\":");
    nr_metrics_json_num(out, nr_per_image_fg_mean(pi, NR_PI_DICE));
    fprintf(out, "}");
    means(out, pi, "hd95", NR_PI_HD95);
    counts(out, pi, "hd95_images", defined_hd95);
    counts(out, pi, "missed", nr_per_image_missed);
    counts(out, pi, "hallucinated", nr_per_image_hallucinated);
    means(out, pi, "nsd", NR_PI_NSD);
    fprintf(out, ",\"nsd_tolerance\":");
    nr_metrics_json_num(out, pi->tau);
    means(out, pi, "boundary_iou", NR_PI_BIOU);
    fprintf(out, ",\"per_image\":[");
    static const char *const keys[] = {"iou", "dice", "hd95", "nsd", "boundary_iou"};
    for (int i = 0, first = 1; i < pi->n; i++) {
        if (!pi->seen[i])
            continue;
        fprintf(out, "%s{\"name\":", first ? "" : ",");
        first = 0;
        nr_json_put_str(out, nr_dataset_name(ds, i));
        for (int f = NR_PI_IOU; f <= NR_PI_BIOU; f++) {
            fputc(',', out);
            nr_metrics_json_array(out, keys[f], &pi->v[((size_t)i * NR_PI_FIELDS + f) * pi->k], pi->k);
        }
        fputc('}', out);
    }
    fputc(']', out);
}

static void col(FILE *out, double v)
{
    if (isnan(v))
        fprintf(out, " %8s", "-");
    else
        fprintf(out, " %8.4f", v);
}

void nr_per_image_print(FILE *out, const nr_per_image *pi)
{
    fprintf(out, "per image (mean over the images where defined; HD95 in pixels, NSD at %g pixels):\n", pi->tau);
    fprintf(out, "%5s %8s %8s %8s %8s %8s %7s %7s %7s\n", "class", "IoU", "Dice", "HD95", "NSD", "BIoU", "images",
            "missed", "halluc");
    for (int c = 0; c < pi->k; c++) {
        int n;
        double dice = nr_per_image_mean(pi, NR_PI_DICE, c, &n);
        if (n == 0)
            continue;
        fprintf(out, "%5d", c);
        col(out, nr_per_image_mean(pi, NR_PI_IOU, c, NULL));
        col(out, dice);
        col(out, nr_per_image_mean(pi, NR_PI_HD95, c, NULL));
        col(out, nr_per_image_mean(pi, NR_PI_NSD, c, NULL));
        col(out, nr_per_image_mean(pi, NR_PI_BIOU, c, NULL));
        fprintf(out, " %7d %7d %7d\n", n, nr_per_image_missed(pi, c), nr_per_image_hallucinated(pi, c));
    }
    fprintf(out, "per-image foreground mIoU %.4f   foreground mean Dice %.4f\n", nr_per_image_fg_mean(pi, NR_PI_IOU),
            nr_per_image_fg_mean(pi, NR_PI_DICE));
}
