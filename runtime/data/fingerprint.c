/* fingerprint.c — the dataset fingerprint (fingerprint.h): one task per
 * image on the thread pool reads image and mask once (nr_dataset_load_any),
 * bins the intensities into the task's thread's histograms and labels the
 * mask's 8-connected components; the results are added in image order. */
#include "fingerprint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "class_index.h"
#include "components.h"
#include "netg.h"
#include "parallel.h"
#include "util.h"

#define HIST_BINS 65536 /* exact for 8- and 16-bit values */
#define IGNORE 255

double nr_hist_percentile(const uint64_t *hist, int bins, double q)
{
    uint64_t total = 0;
    for (int b = 0; b < bins; b++)
        total += hist[b];
    if (!total)
        return 0;
    uint64_t rank = (uint64_t)ceil(q / 100 * (double)total); /* nearest rank, 1-based */
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int b = 0; b < bins; b++) {
        seen += hist[b];
        if (seen >= rank)
            return (double)b / (bins - 1);
    }
    return 1;
}

/* One image's results, added in image order. */
typedef struct {
    int h, w, colour, max_label;
    double sum[2], sumsq[2];     /* all pixels, foreground pixels */
    int64_t n[2];
    int64_t pixels[NG_MAX_CLASSES];
    int64_t locs;
    int64_t *obj;                /* (n_obj) class * 2^32 + size */
    int64_t n_obj;
    char *err;                   /* the failure, when it failed */
    int oom;                     /* it failed for want of memory */
} image_fp;

typedef struct {
    const nr_dataset *ds;
    image_fp *img;               /* (images) */
    uint64_t *hist;              /* (threads, 2, HIST_BINS) */
} fp_ctx;

static void fp_image(void *vctx, int64_t task, int tid)
{
    fp_ctx *c = vctx;
    image_fp *r = &c->img[task];
    uint64_t *hist = c->hist + (size_t)tid * 2 * HIST_BINS;
    float *im = NULL;
    int32_t *mask = NULL, *label = NULL;
    char err[1024];
    if (nr_dataset_load_any(c->ds, (int)task, 3, IGNORE, IGNORE, &im, &mask, &r->h, &r->w, err, sizeof err) < 0)
        goto fail;
    size_t hw = (size_t)r->h * (size_t)r->w;
    const float *R = im, *G = im + hw, *B = im + 2 * hw;
    for (size_t i = 0; i < hw && !r->colour; i++)
        r->colour = R[i] != G[i] || R[i] != B[i];
    r->max_label = -1;
    for (size_t i = 0; i < hw; i++) {
        double v = r->colour ? 0.299 * R[i] + 0.587 * G[i] + 0.114 * B[i] : R[i];
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        int bin = (int)lround(v * (HIST_BINS - 1)), m = mask[i], fg = m != 0 && m != IGNORE;
        hist[bin]++;
        r->sum[0] += v, r->sumsq[0] += v * v, r->n[0]++;
        if (fg) {
            hist[HIST_BINS + bin]++;
            r->sum[1] += v, r->sumsq[1] += v * v, r->n[1]++;
        }
        if (m != IGNORE) {
            r->pixels[m]++;
            if (m > r->max_label)
                r->max_label = m;
        }
    }
    for (int k = 1; k < NG_MAX_CLASSES; k++) /* class_index.h's bound on the kept positions */
        if (r->pixels[k]) {
            int64_t cap = (r->pixels[k] + 99) / 100;
            cap = cap > NR_CLASS_LOCS_MAX ? cap : NR_CLASS_LOCS_MAX;
            r->locs += r->pixels[k] < cap ? r->pixels[k] : cap;
        }
    label = malloc(hw * sizeof *label);
    if (!label) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    int64_t n = nr_components(mask, r->h, r->w, label);
    int64_t *size = calloc((size_t)n, sizeof *size), *cls = malloc((size_t)n * sizeof *cls);
    r->obj = malloc((size_t)n * sizeof *r->obj);
    if (!size || !cls || !r->obj) {
        free(size), free(cls);
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < hw; i++) {
        size[label[i]]++;
        cls[label[i]] = mask[i];
    }
    for (int64_t j = 0; j < n; j++)
        if (cls[j] != 0 && cls[j] != IGNORE)
            r->obj[r->n_obj++] = cls[j] << 32 | size[j];
    free(size), free(cls);
    free(label), free(im), free(mask);
    return;
fail:
    r->err = strdup(err);
    r->oom = !r->err;
    free(label), free(im), free(mask);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_int(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static int median_int(int *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_int);
    return v[n / 2];
}

static void intensity(nr_fp_intensity *s, double sum, double sumsq, int64_t n, const uint64_t *hist)
{
    s->n = n;
    if (!n)
        return;
    s->mean = sum / (double)n;
    double var = sumsq / (double)n - s->mean * s->mean;
    s->std = var > 0 ? sqrt(var) : 0;
    s->p005 = nr_hist_percentile(hist, HIST_BINS, 0.5);
    s->p995 = nr_hist_percentile(hist, HIST_BINS, 99.5);
}

/* The sums of the images (in image order) into fp; 0 or -1 when out of memory. */
static int fp_gather(nr_fingerprint *fp, image_fp *img, int n, const uint64_t *hist)
{
    int *hs = malloc((size_t)n * sizeof *hs), *ws = malloc((size_t)n * sizeof *ws);
    int64_t total_obj = 0;
    for (int i = 0; i < n; i++)
        total_obj += img[i].n_obj;
    int64_t *obj = malloc((size_t)(total_obj ? total_obj : 1) * sizeof *obj);
    int64_t pixels[NG_MAX_CLASSES] = {0};
    int images[NG_MAX_CLASSES] = {0}, max_label = -1;
    double sum[2] = {0}, sumsq[2] = {0};
    int64_t cnt[2] = {0};
    if (!hs || !ws || !obj) {
        free(hs), free(ws), free(obj);
        return -1;
    }
    total_obj = 0;
    for (int i = 0; i < n; i++) {
        const image_fp *r = &img[i];
        hs[i] = r->h, ws[i] = r->w;
        fp->colour += r->colour;
        int64_t px = (int64_t)r->h * r->w;
        fp->max_pixels = px > fp->max_pixels ? px : fp->max_pixels;
        for (int k = 0; k < NG_MAX_CLASSES; k++) {
            pixels[k] += r->pixels[k];
            images[k] += r->pixels[k] > 0;
        }
        max_label = r->max_label > max_label ? r->max_label : max_label;
        for (int s = 0; s < 2; s++)
            sum[s] += r->sum[s], sumsq[s] += r->sumsq[s], cnt[s] += r->n[s];
        fp->class_locs += r->locs;
        if (r->n_obj)
            memcpy(obj + total_obj, r->obj, (size_t)r->n_obj * sizeof *obj);
        total_obj += r->n_obj;
    }
    fp->images = n;
    fp->gray = n - fp->colour;
    fp->h_median = median_int(hs, n), fp->h_min = hs[0], fp->h_max = hs[n - 1];
    fp->w_median = median_int(ws, n), fp->w_min = ws[0], fp->w_max = ws[n - 1];
    free(hs), free(ws);
    fp->classes = max_label + 1;
    intensity(&fp->all, sum[0], sumsq[0], cnt[0], hist);
    intensity(&fp->fg, sum[1], sumsq[1], cnt[1], hist + HIST_BINS);
    fp->ignored = cnt[0];
    for (int k = 0; k < NG_MAX_CLASSES; k++)
        fp->labelled += pixels[k];
    fp->ignored -= fp->labelled;
    fp->background_share = fp->labelled ? (double)pixels[0] / (double)fp->labelled : 0;
    fp->cls = calloc((size_t)(fp->classes > 0 ? fp->classes : 1), sizeof *fp->cls);
    if (!fp->cls) {
        free(obj);
        return -1;
    }
    /* the objects sorted by class, then size: each class's run gives its count, min, median, max */
    qsort(obj, (size_t)total_obj, sizeof *obj, cmp_i64);
    for (int64_t a = 0, b; a < total_obj; a = b) {
        int k = (int)(obj[a] >> 32);
        for (b = a; b < total_obj && (obj[b] >> 32) == k; b++) {}
        nr_fp_class *c = &fp->cls[k];
        c->objects = b - a;
        c->obj_min = obj[a] & 0xffffffff;
        c->obj_median = obj[a + (b - a) / 2] & 0xffffffff;
        c->obj_max = obj[b - 1] & 0xffffffff;
    }
    for (int k = 0; k < fp->classes; k++)
        fp->cls[k].pixels = pixels[k], fp->cls[k].images = images[k];
    free(obj);
    return 0;
}

int nr_fingerprint_compute(const nr_dataset *ds, nr_fingerprint *fp, char *err, size_t errlen)
{
    double t0 = ng_now();
    memset(fp, 0, sizeof *fp);
    int n = nr_dataset_count(ds);
    if (n <= 0)
        return ng_fail(err, errlen, "the dataset has no images");
    if (!nr_dataset_has_masks(ds))
        return ng_fail(err, errlen, "the dataset has no masks");
    int threads = nr_par_threads();
    fp_ctx c = {ds, calloc((size_t)n, sizeof *c.img), calloc((size_t)threads * 2 * HIST_BINS, sizeof *c.hist)};
    if (!c.img || !c.hist) {
        free(c.img), free(c.hist);
        return ng_fail(err, errlen, "out of memory");
    }
    nr_par_for(n, fp_image, &c);
    for (int t = 1; t < threads; t++) /* the threads' histograms into the first */
        for (int b = 0; b < 2 * HIST_BINS; b++)
            c.hist[b] += c.hist[(size_t)t * 2 * HIST_BINS + b];
    int rc = 0;
    for (int i = 0; i < n && !rc; i++)
        if (c.img[i].err || c.img[i].oom)
            rc = ng_fail(err, errlen, "%s", c.img[i].err ? c.img[i].err : "out of memory");
    if (!rc && fp_gather(fp, c.img, n, c.hist) != 0)
        rc = ng_fail(err, errlen, "out of memory");
    for (int i = 0; i < n; i++) {
        free(c.img[i].obj);
        free(c.img[i].err);
    }
    free(c.img), free(c.hist);
    if (rc)
        nr_fingerprint_free(fp);
    fp->seconds = ng_now() - t0;
    return rc;
}

void nr_fingerprint_free(nr_fingerprint *fp)
{
    if (!fp)
        return;
    free(fp->cls);
    fp->cls = NULL;
}
