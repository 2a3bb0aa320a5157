/* evaluate.c — the eval and infer entries over a dataset (evaluate.h):
 * each image at its own size, a tile batch at a time (window.c: sliding
 * windows or resize, TTA, prior correction); the visits below see one whole
 * image each. */
#include "evaluate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "layout.h"
#include "npy.h"
#include "overlay.h"
#include "png.h"
#include "util.h"
#include "window.h"

typedef struct {
    nr_confusion *conf;
    int ignore;
    const nr_eval_more *more; /* or NULL */
    const nr_window_job *job; /* its probs */
} eval_ctx;

/* pred, or a copy of it post-processed into *own (freed by the caller):
 * NULL when out of memory. */
static const uint8_t *postprocessed(const nr_postprocess *post, const uint8_t *pred, int h, int w, uint8_t **own)
{
    *own = NULL;
    if (!post)
        return pred;
    size_t hw = (size_t)h * w;
    if (!(*own = malloc(hw ? hw : 1)))
        return NULL;
    memcpy(*own, pred, hw);
    return nr_post_apply(post, *own, h, w) == 0 ? *own : NULL;
}

static int eval_visit(void *ctx, int idx, const float *image, int c, int h, int w, const uint8_t *pred,
                      const int32_t *truth, char *err, size_t errlen)
{
    (void)image, (void)c;
    eval_ctx *e = ctx;
    const nr_eval_more *x = e->more;
    uint8_t *own;
    if (!(pred = postprocessed(x ? x->post : NULL, pred, h, w, &own))) {
        free(own);
        return ng_fail(err, errlen, "out of memory");
    }
    nr_confusion_add(e->conf, truth, pred, (int64_t)h * w, e->ignore); /* at full resolution */
    int rc = 0;
    if (x && x->per_image)
        rc |= nr_per_image_add(x->per_image, idx, truth, pred, h, w, e->ignore);
    if (x && x->keep)
        rc |= nr_post_keep(x->keep, idx, truth, pred, h, w);
    if (x && x->calib)
        rc |= nr_calib_add(x->calib, e->job->probs, truth, h, w, e->ignore);
    free(own);
    return rc ? ng_fail(err, errlen, "out of memory") : 0;
}

int nr_evaluate(nr_model *m, const nr_ensemble *ens, const nr_dataset *ds, nr_confusion *conf, double *loss, char *err,
                size_t errlen)
{
    return nr_evaluate_with(m, ens, ds, conf, loss, NULL, err, errlen);
}

int nr_evaluate_with(nr_model *m, const nr_ensemble *ens, const nr_dataset *ds, nr_confusion *conf, double *loss,
                     const nr_eval_more *more, char *err, size_t errlen)
{
    nr_window_job j = {.entry = "eval", .with_masks = 1, .visit = eval_visit, .ens = ens};
    eval_ctx c = {conf, nr_model_graph(m)->bind.ignore, more, &j};
    j.ctx = &c;
    j.want_probs = more && more->calib;
    if (nr_window_run(m, ds, &j, err, errlen) != 0)
        return -1;
    double ln[2] = {j.loss_sum, (double)j.loss_n}; /* every rank's share (dist.h) */
    nr_dist_sum_f64(ln, 2);
    nr_dist_sum_i64(conf->m, conf->k * conf->k);
    if (more && more->per_image)
        nr_per_image_gather(more->per_image);
    if (more && more->calib)
        nr_calib_gather(more->calib);
    *loss = ln[1] > 0 ? ln[0] / ln[1] : NAN;
    return 0;
}

typedef struct {
    const nr_dataset *ds;
    const char *out_dir;
    int quiet;
    int classes;
    const nr_palette *pal; /* overlays in this palette, or NULL: none */
    const nr_postprocess *post; /* or NULL */
} predict_ctx;

/* The name of sample idx's output file: its image's stem + ext (".png"). */
static void mask_name(char *buf, size_t n, const nr_dataset *ds, int idx, const char *ext)
{
    const char *name = nr_dataset_name(ds, idx), *dot = strrchr(name, '.');
    snprintf(buf, n, "%.*s%s", dot && dot != name ? (int)(dot - name) : (int)strlen(name), name, ext);
}

/* predict --probabilities: OUT/STEM.npy, (K,H,W) float32 */
static int probs_visit(void *ctx, int idx, const float *probs, int k, int h, int w, char *err, size_t errlen)
{
    predict_ctx *c = ctx;
    char path[4096], name[1024];
    mask_name(name, sizeof name, c->ds, idx, ".npy");
    snprintf(path, sizeof path, "%s/%s", c->out_dir, name);
    int64_t dim[3] = {k, h, w};
    return nr_npy_write_f32(path, 3, dim, probs, err, errlen);
}

/* The mask (and overlay) of image idx. */
static int predict_write(predict_ctx *c, int idx, const float *image, int ch, int h, int w, const uint8_t *pred,
                         const int32_t *truth, char *err, size_t errlen)
{
    char path[4096], name[1024];
    mask_name(name, sizeof name, c->ds, idx, ".png");
    snprintf(path, sizeof path, "%s/%s", c->out_dir, name);
    if (nr_png_write_mask(path, h, w, pred, err, errlen) != 0)
        return -1;
    if (!c->quiet)
        printf("%s\n", path);
    if (c->pal) { /* the overlay hook: the image, prediction, truth when known, at the image's size */
        snprintf(path, sizeof path, "%s/overlays/%s", c->out_dir, name);
        if (nr_overlay_write(path, image, ch, h, w, pred, truth, c->classes, c->pal, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int predict_visit(void *ctx, int idx, const float *image, int ch, int h, int w, const uint8_t *pred,
                         const int32_t *truth, char *err, size_t errlen)
{
    predict_ctx *c = ctx;
    uint8_t *own;
    if (!(pred = postprocessed(c->post, pred, h, w, &own))) {
        free(own);
        return ng_fail(err, errlen, "out of memory");
    }
    int rc = predict_write(c, idx, image, ch, h, w, pred, truth, err, errlen);
    free(own);
    return rc;
}

int nr_predict(nr_model *m, const nr_ensemble *ens, const nr_dataset *ds, const char *out_dir, int quiet, int overlay,
               int probabilities, const nr_postprocess *post, char *err, size_t errlen)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/overlays", out_dir);
    if (nr_dataset_check_stems(ds, err, errlen) != 0 || nr_dataset_check_output(ds, out_dir, err, errlen) != 0 ||
        ng_mkdir_p(overlay ? dir : out_dir, err, errlen) != 0)
        return -1;
    nr_palette pal;
    int masks = overlay && nr_dataset_count(ds) > 0 && nr_dataset_mask_path(ds, 0) != NULL;
    if (masks && nr_palette_from_mask(nr_dataset_mask_path(ds, 0), &pal, NULL, err, errlen) != 0)
        return -1;
    if (overlay && !masks)
        nr_palette_voc(&pal);
    predict_ctx c = {ds, out_dir, quiet, nr_model_graph(m)->bind.classes, overlay ? &pal : NULL, post};
    nr_window_job j = {.entry = "infer", .with_masks = masks, .visit = predict_visit, .ctx = &c, .ens = ens,
                       .probabilities = probabilities ? probs_visit : NULL};
    return nr_window_run(m, ds, &j, err, errlen);
}

typedef struct {
    const nr_dataset *ds;
    nr_image_visit visit;
    void *ctx;
} each_ctx;

static int each_visit(void *ctx, int idx, const float *image, int c, int h, int w, const uint8_t *pred,
                      const int32_t *truth, char *err, size_t errlen)
{
    each_ctx *e = ctx;
    return e->visit(e->ctx, e->ds, idx, image, c, h, w, pred, truth, err, errlen);
}

int nr_infer_each(nr_model *m, const nr_dataset *ds, int with_masks, nr_image_visit visit, void *ctx, char *err,
                  size_t errlen)
{
    each_ctx c = {ds, visit, ctx};
    nr_window_job j = {.entry = "infer", .with_masks = with_masks, .visit = each_visit, .ctx = &c,
                       .all = 1 /* the report, on rank 0 alone */};
    return nr_window_run(m, ds, &j, err, errlen);
}
