/* report_gallery.c — the gallery of netrun report (report_int.h): the
 * model run over the validation images, each scored by its own foreground
 * mIoU, the best and the worst kept and rendered as overlays (overlay.c). */
#define _GNU_SOURCE
#include "report_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"
#include "image.h"
#include "png.h"
#include "util.h"

#define GALLERY_SIDE 4 /* images per side (best, worst) */
#define GALLERY_PIXELS 512 /* the longest side of an overlay on the page: a large image is shown smaller */

typedef struct {
    int idx;                 /* sample index, -1: empty */
    double score, acc;       /* the image's foreground mIoU and pixel accuracy */
    int c, h, w;             /* its size as shown (images may differ; large ones are shrunk) */
    float *image;            /* (C,H,W) */
    uint8_t *pred;           /* (H,W) */
    int32_t *truth;          /* (H,W) */
} slot;

typedef struct {
    int classes, ignore;
    slot best[GALLERY_SIDE], worst[GALLERY_SIDE];
    int n_scored;
} gallery;

static void slot_free(slot *s)
{
    free(s->image);
    free(s->pred);
    free(s->truth);
    memset(s, 0, sizeof *s);
    s->idx = -1;
}

/* The size (h2, w2) an h x w image is kept at: its overlay (four panels
 * side by side, nr_overlay_size) no longer than GALLERY_PIXELS. */
static void shown_size(int h, int w, int *h2, int *w2)
{
    int oh, ow;
    nr_overlay_size(h, w, 1, &oh, &ow);
    double s = fmin(1.0, fmin((double)GALLERY_PIXELS / oh, (double)(GALLERY_PIXELS - 3 * NR_OVERLAY_GAP) / (4.0 * w)));
    *h2 = s < 1 ? (int)fmax(1, floor(h * s)) : h;
    *w2 = s < 1 ? (int)fmax(1, floor(w * s)) : w;
}

/* Put the sample in list (kept sorted: best first when desc) if it ranks,
 * at its shown size (the image bilinear, the labels nearest). */
static int slot_offer(slot *list, int desc, double score, double acc, int idx, const float *image, int c, int h,
                      int w, const uint8_t *pred, const int32_t *truth)
{
    int pos = GALLERY_SIDE;
    for (int i = 0; i < GALLERY_SIDE; i++)
        if (list[i].idx < 0 || (desc ? score > list[i].score : score < list[i].score)) {
            pos = i;
            break;
        }
    if (pos == GALLERY_SIDE)
        return 0;
    int h2, w2;
    shown_size(h, w, &h2, &w2);
    int64_t hw = (int64_t)h2 * w2;
    slot s = {idx, score, acc, c, h2, w2, malloc((size_t)(c * hw) * sizeof(float)), malloc((size_t)hw),
              malloc((size_t)hw * sizeof(int32_t))};
    if (!s.image || !s.pred || !s.truth) {
        slot_free(&s);
        return -1;
    }
    nr_resize_bilinear(image, c, h, w, s.image, h2, w2);
    nr_resize_nearest(truth, h, w, s.truth, h2, w2);
    for (int y = 0; y < h2; y++) /* nr_resize_nearest's sampling, on bytes */
        for (int x = 0; x < w2; x++)
            s.pred[(int64_t)y * w2 + x] = pred[(2 * (int64_t)y + 1) * h / (2 * h2) * w + (2 * (int64_t)x + 1) * w / (2 * w2)];
    slot_free(&list[GALLERY_SIDE - 1]);
    memmove(list + pos + 1, list + pos, (size_t)(GALLERY_SIDE - 1 - pos) * sizeof *list);
    list[pos] = s;
    return 0;
}

/* The image's foreground mIoU (over foreground classes in its truth or its
 * prediction; NAN when there are none) and pixel accuracy. */
static void image_score(const uint8_t *pred, const int32_t *truth, int64_t hw, int k, int ignore, double *miou,
                        double *acc)
{
    int64_t *cnt = calloc((size_t)k * 3, sizeof *cnt); /* tp, truth, pred */
    int64_t n = 0, ok = 0;
    *miou = *acc = NAN;
    if (!cnt)
        return;
    for (int64_t i = 0; i < hw; i++) {
        int t = truth[i], p = pred[i];
        if (t == ignore || t < 0 || t >= k || p >= k)
            continue;
        n++;
        cnt[3 * t + 1]++;
        cnt[3 * p + 2]++;
        if (t == p)
            ok++, cnt[3 * t]++;
    }
    double sum = 0;
    int m = 0;
    for (int c = 1; c < k; c++) {
        int64_t u = cnt[3 * c + 1] + cnt[3 * c + 2] - cnt[3 * c];
        if (u > 0)
            sum += (double)cnt[3 * c] / (double)u, m++;
    }
    *miou = m ? sum / m : NAN;
    *acc = n ? (double)ok / n : NAN;
    free(cnt);
}

static int gallery_visit(void *ctx, const nr_dataset *ds, int idx, const float *image, int c, int h, int w,
                         const uint8_t *pred, const int32_t *truth, char *err, size_t errlen)
{
    (void)ds;
    gallery *g = ctx;
    if (!truth)
        return 0;
    double s, acc;
    image_score(pred, truth, (int64_t)h * w, g->classes, g->ignore, &s, &acc);
    if (isnan(s))
        return 0; /* background only, and none predicted: nothing to show */
    g->n_scored++;
    if (slot_offer(g->best, 1, s, acc, idx, image, c, h, w, pred, truth) != 0 ||
        slot_offer(g->worst, 0, s, acc, idx, image, c, h, w, pred, truth) != 0)
        return ng_fail(err, errlen, "out of memory");
    return 0;
}

/* Render the gallery's slots: the best side, then the worst one without
 * the images already shown. */
static int gallery_render(gallery *g, const nr_dataset *ds, const nr_palette *pal, shot **out, int *n_out, char *err,
                          size_t errlen)
{
    *out = calloc(2 * GALLERY_SIDE, sizeof **out);
    *n_out = 0;
    if (!*out)
        return ng_fail(err, errlen, "out of memory");
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < GALLERY_SIDE; i++) {
            slot *s = side ? &g->worst[i] : &g->best[i];
            int dup = 0;
            for (int j = 0; side && j < GALLERY_SIDE; j++)
                dup |= g->best[j].idx == s->idx;
            if (s->idx < 0 || dup)
                continue;
            int oh, ow;
            nr_overlay_size(s->h, s->w, 1, &oh, &ow);
            uint8_t *rgb = malloc((size_t)oh * (size_t)ow * 3);
            shot *o = &(*out)[(*n_out)++];
            o->name = strdup(nr_dataset_name(ds, s->idx));
            if (!rgb || !o->name) {
                free(rgb);
                return ng_fail(err, errlen, "out of memory");
            }
            nr_overlay_render(s->image, s->c, s->h, s->w, s->pred, s->truth, g->classes, pal, rgb);
            o->score = s->score, o->acc = s->acc, o->worst = side, o->w = ow, o->h = oh;
            int rc = nr_png_encode_rgb8(oh, ow, rgb, &o->png, &o->len, err, errlen);
            free(rgb);
            if (rc != 0)
                return -1;
        }
    return 0;
}

void rp_shots_free(shot *s, int n)
{
    for (int i = 0; s && i < n; i++) {
        free(s[i].name);
        free(s[i].png);
    }
    free(s);
}

int rp_gallery(nr_model *m, const nr_dataset *ds, const nr_palette *pal, int classes, int ignore, shot **shots,
               int *n_shots, char *err, size_t errlen)
{
    gallery g = {.classes = classes, .ignore = ignore};
    for (int i = 0; i < GALLERY_SIDE; i++)
        g.best[i].idx = g.worst[i].idx = -1;
    int rc = nr_infer_each(m, ds, 1, gallery_visit, &g, err, errlen);
    if (rc == 0 && g.n_scored)
        rc = gallery_render(&g, ds, pal, shots, n_shots, err, errlen);
    for (int i = 0; i < GALLERY_SIDE; i++) {
        slot_free(&g.best[i]);
        slot_free(&g.worst[i]);
    }
    return rc;
}
