/* window.c — sliding-window / resized evaluation and prediction (window.h).
 * A job is one tile of one image under one TTA symmetry; jobs of
 * consecutive images share a batch, and an image is finished (argmax,
 * visit) once all its jobs have run, in dataset order. */
#define _POSIX_C_SOURCE 200809L
#include "window.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "image.h"
#include "options.h"
#include "util.h"

int nr_window_positions(int len, int t, double overlap, int *pos, int max)
{
    if (len <= t) {
        if (pos && max > 0)
            pos[0] = 0;
        return 1;
    }
    double target = (double)t * (1.0 - overlap);
    if (target < 1)
        target = 1;
    int n = (int)ceil((double)(len - t) / target) + 1;
    double step = (double)(len - t) / (double)(n - 1);
    for (int k = 0; pos && k < n && k < max; k++)
        pos[k] = (int)lround(step * k);
    return n;
}

double nr_window_prior(const int64_t *counts, int classes, int k)
{
    double total = 0, most = 0;
    for (int c = 0; c < classes; c++)
        total += (double)counts[c], most = (double)counts[c] > most ? (double)counts[c] : most;
    /* a class absent from the training masks is not boosted: its prior is
     * taken as the most frequent class's */
    return ((counts[k] ? (double)counts[k] : most) + 1) / (total + classes);
}

void nr_window_gaussian(int h, int w, double sigma_scale, float *out)
{
    double sy = h * sigma_scale, sx = w * sigma_scale;
    int cy = h / 2, cx = w / 2;
    for (int y = 0; y < h; y++) {
        double gy = exp(-(double)(y - cy) * (y - cy) / (2 * sy * sy));
        for (int x = 0; x < w; x++) {
            double gx = exp(-(double)(x - cx) * (x - cx) / (2 * sx * sx));
            float v = (float)(gy * gx);
            out[(size_t)y * w + x] = v > 1e-8f ? v : 1e-8f; /* never 0: every pixel is covered */
        }
    }
}

int nr_window_normalize(float *probs, int k, size_t hw, const float *pw)
{
    float *inv = malloc(sizeof *inv * (hw ? hw : 1)); /* 1 / each pixel's sum */
    if (!inv)
        return -1;
    memset(inv, 0, sizeof *inv * hw);
    for (int c = 0; c < k; c++) { /* plane by plane: contiguous */
        float *v = probs + (size_t)c * hw, w = pw ? pw[c] : 1.0f;
        for (size_t p = 0; p < hw; p++)
            inv[p] += v[p] * w;
    }
    for (size_t p = 0; p < hw; p++)
        inv[p] = inv[p] > 0 ? 1.0f / inv[p] : 0;
    for (int c = 0; c < k; c++) {
        float *v = probs + (size_t)c * hw, w = pw ? pw[c] : 1.0f;
        for (size_t p = 0; p < hw; p++)
            v[p] = v[p] * w * inv[p];
    }
    free(inv);
    return 0;
}

/* ---- the loader thread: images decoded one ahead ------------------------ */

typedef struct {
    float *img;
    int32_t *mask;
    int h, w, rc;
    char err[512];
} loaded;

typedef struct {
    const nr_dataset *ds; /* or NULL: images from load */
    nr_window_load load;
    void *load_ctx;
    int c, classes, ignore, with_masks;
    const int *order;
    int n;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int head, tail, stop, started;
    loaded q[2];
} prefetch;

static void *prefetch_main(void *arg)
{
    prefetch *p = arg;
    pthread_mutex_lock(&p->mu);
    while (p->head < p->n) {
        while (!p->stop && p->head - p->tail >= 2)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop)
            break;
        loaded *l = &p->q[p->head % 2];
        int i = p->order[p->head];
        pthread_mutex_unlock(&p->mu);
        l->err[0] = 0;
        l->rc = p->ds ? nr_dataset_load_any(p->ds, i, p->c, p->classes, p->ignore, &l->img,
                                            p->with_masks ? &l->mask : NULL, &l->h, &l->w, l->err, sizeof l->err)
                      : p->load(p->load_ctx, i, p->c, &l->img, &l->h, &l->w, l->err, sizeof l->err);
        if (!p->with_masks || !p->ds)
            l->mask = NULL;
        pthread_mutex_lock(&p->mu);
        p->head++;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int prefetch_start(prefetch *p)
{
    if (pthread_mutex_init(&p->mu, NULL) != 0 || pthread_cond_init(&p->cv, NULL) != 0)
        return -1;
    if (pthread_create(&p->th, NULL, prefetch_main, p) != 0)
        return -1;
    p->started = 1;
    return 0;
}

/* The next image (ownership passes to the caller). */
static loaded prefetch_next(prefetch *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->tail == p->head)
        pthread_cond_wait(&p->cv, &p->mu);
    loaded l = p->q[p->tail % 2];
    memset(&p->q[p->tail % 2], 0, sizeof l);
    p->tail++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return l;
}

static void prefetch_stop(prefetch *p)
{
    if (!p->started)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    for (int k = 0; k < 2; k++) { /* loaded and never taken */
        free(p->q[k].img);
        free(p->q[k].mask);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

/* ---- images in flight ---------------------------------------------------- */

typedef struct img_state {
    int idx, h, w;
    float *raw;       /* (C,h,w) in [0,1] */
    int32_t *mask;    /* (h,w) or NULL; raw and mask are the loader's */
    float *norm;      /* resize mode: (C,TH,TW) normalized; window mode: NULL (each tile is normalized
                         as it is cut from raw) */
    float *acc;       /* window mode: (K,ring,w) weighted sums of the rows in flight, image row y in row
                         y % ring; resize mode: (K,TH,TW) */
    int ring;         /* window mode: rows of acc, min(h, TH) */
    int rows_done;    /* window mode: rows 0..rows_done-1 are final, in pred */
    uint8_t *pred;    /* (h,w) the predicted classes */
    float *probs;     /* (K,h,w) every pixel's class sums, kept when the job wants the probabilities
                         (nr_window_job's probabilities, want_probs); else NULL */
    int32_t *rmask;   /* resize mode with a mask: (TH,TW); else NULL */
    void *mem;        /* the one block norm, acc, pred and rmask are carved from */
    int pending;      /* jobs queued and not yet run */
    int queued_all;
    struct img_state *next;
} img_state;

typedef struct {
    img_state *st;
    int y0, x0, v;    /* tile origin and symmetry (bit 0 fh, 1 fv, 2 transpose) */
    int fin;          /* window mode: the last job of its row of tiles: rows up to fin (exclusive) are
                         final once it has run (no later tile reaches them); else 0 */
} job;

typedef struct {
    nr_model *m;
    const ng_graph *g;
    nr_window_job *j;
    int B, C, TH, TW, K, ignore, resize, eval;
    int members;      /* of the ensemble (ensemble.h), 1 without */
    float mean[3], stdv[3]; /* (C) normalization (options mean, std) */
    float *gauss;     /* (TH,TW), window mode */
    float *osum;      /* (B,K,TH,TW) the members' outputs summed, with members > 1 */
    float *pw;        /* (K) prior^-tau, or NULL */
    float *bimg;      /* (B,C,TH,TW) the batch being filled */
    int32_t *bmask;   /* (B,TH,TW) */
    float *tile;      /* (C,TH,TW) scratch */
    int32_t *tmask;   /* (TH,TW) scratch */
    job *jobs;        /* (B) */
    void *mem;        /* the one block the arrays above are carved from */
    int nb;
    img_state *head, *tail; /* FIFO of images in flight */
} runner;

/* The runner's arrays, pw only with a prior correction; measures with base
 * NULL (util.h's ng_carve). */
static size_t runner_layout(runner *r, char *base, int with_pw)
{
    size_t at = 0, thw = (size_t)r->TH * r->TW;
    r->pw = with_pw ? ng_carve(base, &at, (size_t)r->K, sizeof *r->pw) : NULL;
    r->osum = r->members > 1 ? ng_carve(base, &at, (size_t)r->B * r->K * thw, sizeof *r->osum) : NULL;
    r->gauss = ng_carve(base, &at, thw, sizeof *r->gauss);
    r->bimg = ng_carve(base, &at, (size_t)r->B * r->C * thw, sizeof *r->bimg);
    r->bmask = ng_carve(base, &at, (size_t)r->B * thw, sizeof *r->bmask);
    r->tile = ng_carve(base, &at, (size_t)r->C * thw, sizeof *r->tile);
    r->tmask = ng_carve(base, &at, thw, sizeof *r->tmask);
    r->jobs = ng_carve(base, &at, (size_t)r->B, sizeof *r->jobs);
    return at;
}

/* The arrays s owns, over planes of the model's size in resize mode and of
 * the image's otherwise; the sums over a band of the tile's height in window
 * mode, so that the memory of K classes is the window's, not the image's;
 * measures with base NULL (util.h's ng_carve). */
static size_t state_layout(img_state *s, char *base, const runner *r)
{
    size_t at = 0, hw = (size_t)s->h * s->w, plane = r->resize ? (size_t)r->TH * r->TW : hw;
    s->ring = s->h < r->TH ? s->h : r->TH;
    s->norm = r->resize ? ng_carve(base, &at, (size_t)r->C * plane, sizeof *s->norm) : NULL;
    s->acc = ng_carve(base, &at, (size_t)r->K * (r->resize ? plane : (size_t)s->ring * s->w), sizeof *s->acc);
    s->pred = ng_carve(base, &at, hw, sizeof *s->pred);
    s->probs = r->j->probabilities || r->j->want_probs ? ng_carve(base, &at, (size_t)r->K * hw, sizeof *s->probs)
                                                        : NULL;
    s->rmask = r->resize && s->mask ? ng_carve(base, &at, plane, sizeof *s->rmask) : NULL;
    return at;
}

/* pred of the n pixels whose class sums are probs[k * stride + p]: the
 * class of the largest after the prior correction. */
static void argmax(const runner *r, const float *probs, size_t stride, size_t n, uint8_t *pred)
{
    for (size_t p = 0; p < n; p++) {
        int best = 0;
        float bv = -INFINITY;
        for (int k = 0; k < r->K; k++) {
            float v = probs[(size_t)k * stride + p] * (r->pw ? r->pw[k] : 1.0f);
            if (v > bv)
                bv = v, best = k;
        }
        pred[p] = (uint8_t)best;
    }
}

/* Row y of s's class sums, row[k * stride + x], into s->probs when kept. */
static void keep_row(const runner *r, img_state *s, int y, const float *row, size_t stride)
{
    if (!s->probs)
        return;
    size_t hw = (size_t)s->h * s->w;
    for (int k = 0; k < r->K; k++)
        memcpy(s->probs + (size_t)k * hw + (size_t)y * s->w, row + (size_t)k * stride, sizeof *row * (size_t)s->w);
}

/* Window mode: rows rows_done..end-1 of s are final: their classes into
 * pred, their rows of acc zeroed for the rows that come next. */
static void finish_rows(const runner *r, img_state *s, int end)
{
    size_t band = (size_t)s->ring * s->w;
    for (int y = s->rows_done; y < end; y++) {
        float *row = s->acc + (size_t)(y % s->ring) * s->w;
        argmax(r, row, band, (size_t)s->w, s->pred + (size_t)y * s->w);
        keep_row(r, s, y, row, band);
        for (int k = 0; k < r->K; k++)
            memset(row + (size_t)k * band, 0, sizeof *row * (size_t)s->w);
    }
    s->rows_done = end;
}

static void state_free(img_state *s)
{
    if (!s)
        return;
    free(s->raw);
    free(s->mask);
    free(s->mem);
    free(s);
}

/* (a,b) = the source pixel of (y,x) under symmetry v (as the batcher's
 * augmentation: transpose, then flips). */
static inline void sym(int v, int th, int tw, int y, int x, int *a, int *b)
{
    int p = (v & 4) ? x : y, q = (v & 4) ? y : x;
    if (v & 2)
        p = th - 1 - p;
    if (v & 1)
        q = tw - 1 - q;
    *a = p, *b = q;
}

/* Put job (s, y0, x0, v) into batch slot r->nb; fin as in job. */
static void fill_job(runner *r, img_state *s, int y0, int x0, int v, int fin)
{
    int TH = r->TH, TW = r->TW;
    size_t thw = (size_t)TH * TW;
    float *dst = r->bimg + (size_t)r->nb * r->C * thw;
    int32_t *dm = r->bmask + (size_t)r->nb * thw;
    const float *src;
    const int32_t *srcm = NULL;
    if (r->resize) {
        src = s->norm;
        srcm = s->rmask;
    } else {
        nr_window_f32(s->raw, r->C, s->h, s->w, y0, x0, r->tile, TH, TW, 0.0f);
        int rows = s->h - y0 < TH ? s->h - y0 : TH, cols = s->w - x0 < TW ? s->w - x0 : TW;
        for (int k = 0; k < r->C; k++) /* the image's pixels: the padding stays 0 after normalization */
            for (int y = 0; y < rows; y++)
                nr_normalize(r->tile + (size_t)k * thw + (size_t)y * TW, 1, (size_t)cols, &r->mean[k], &r->stdv[k]);
        if (s->mask)
            nr_window_i32(s->mask, s->h, s->w, y0, x0, r->tmask, TH, TW, r->ignore);
        src = r->tile;
        srcm = s->mask ? r->tmask : NULL;
    }
    for (int y = 0; y < TH; y++)
        for (int x = 0; x < TW; x++) {
            int a, b;
            sym(v, TH, TW, y, x, &a, &b);
            size_t o = (size_t)y * TW + x, si = (size_t)a * TW + b;
            for (int k = 0; k < r->C; k++)
                dst[(size_t)k * thw + o] = src[(size_t)k * thw + si];
            dm[o] = srcm ? srcm[si] : r->ignore;
        }
    r->jobs[r->nb] = (job){s, y0, x0, v, fin};
    r->nb++;
    s->pending++;
}

/* Finish the images at the head of the queue whose jobs have all run. */
static int finish_ready(runner *r, char *err, size_t errlen)
{
    while (r->head && r->head->queued_all && r->head->pending == 0) {
        img_state *s = r->head;
        if (r->resize) { /* the tile's sums back to the image's size, a row at a time (K rows of w) */
            float *row = malloc(sizeof *row * (size_t)r->K * s->w);
            if (!row)
                return ng_fail(err, errlen, "out of memory");
            for (int y = 0; y < s->h; y++) {
                nr_resize_bilinear_rows(s->acc, r->K, r->TH, r->TW, row, s->h, s->w, y, y + 1);
                argmax(r, row, (size_t)s->w, (size_t)s->w, s->pred + (size_t)y * s->w);
                keep_row(r, s, y, row, (size_t)s->w);
            }
            free(row);
        }
        if (s->probs && nr_window_normalize(s->probs, r->K, (size_t)s->h * s->w, r->pw) != 0)
            return ng_fail(err, errlen, "out of memory");
        r->j->probs = r->j->want_probs ? s->probs : NULL; /* the numbers the argmax compared, normalized */
        int rc = r->j->visit ? r->j->visit(r->j->ctx, s->idx, s->raw, r->C, s->h, s->w, s->pred, s->mask, err,
                                           errlen) : 0;
        if (rc == 0 && r->j->probabilities)
            rc = r->j->probabilities(r->j->ctx, s->idx, s->probs, r->K, s->h, s->w, err, errlen);
        r->j->probs = NULL;
        r->head = s->next;
        if (!r->head)
            r->tail = NULL;
        state_free(s);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Run the filled batch and add each job's output into its image. */
static int run_batch(runner *r, char *err, size_t errlen)
{
    if (r->nb == 0)
        return 0;
    size_t thw = (size_t)r->TH * r->TW;
    for (int s = r->nb; s < r->B; s++) { /* unused slots: zeros, ignore */
        memset(r->bimg + (size_t)s * r->C * thw, 0, sizeof *r->bimg * r->C * thw);
        for (size_t p = 0; p < thw; p++)
            r->bmask[(size_t)s * thw + p] = r->ignore;
    }
    const ng_graph *g = r->g;
    nr_model_write(r->m, g->bind.image, r->bimg, sizeof *r->bimg * (size_t)r->B * r->C * thw);
    if (r->eval && g->bind.labels >= 0)
        nr_model_write(r->m, g->bind.labels, r->bmask, sizeof *r->bmask * (size_t)r->B * thw);
    const float *out = NULL;
    size_t n_out = (size_t)r->nb * r->K * thw;
    for (int e = 0; e < r->members; e++) { /* an ensemble: each member, outputs summed */
        nr_ensemble_use(r->j->ens, r->m, e);
        if (nr_model_run(r->m, r->j->entry) != 0)
            return ng_fail(err, errlen, "%s", nr_model_error(r->m));
        if (r->eval) { /* the members' mean loss */
            float loss;
            nr_model_read(r->m, r->j->entry, g->bind.loss, &loss, sizeof loss);
            r->j->loss_sum += (double)loss * r->nb / r->members;
        }
        out = nr_model_tensor(r->m, r->j->entry, g->bind.output);
        for (size_t i = 0; r->members > 1 && i < n_out; i++)
            r->osum[i] = e ? r->osum[i] + out[i] : out[i];
    }
    for (size_t i = 0; r->members > 1 && i < n_out; i++)
        r->osum[i] /= (float)r->members; /* the average: (A + A) / 2 is A exactly */
    if (r->members > 1)
        out = r->osum;
    r->j->loss_n += r->eval ? r->nb : 0;
    r->j->tiles += (int64_t)r->nb * r->members;
    for (int s = 0; s < r->nb; s++) {
        const job *jb = &r->jobs[s];
        img_state *st = jb->st;
        const float *o = out + (size_t)s * r->K * thw;
        for (int y = 0; y < r->TH; y++)
            for (int x = 0; x < r->TW; x++) {
                int a, b;
                sym(jb->v, r->TH, r->TW, y, x, &a, &b); /* output (y,x) belongs to tile pixel (a,b) */
                if (r->resize) {
                    for (int k = 0; k < r->K; k++)
                        st->acc[(size_t)k * thw + (size_t)a * r->TW + b] += o[(size_t)k * thw + (size_t)y * r->TW + x];
                    continue;
                }
                int iy = jb->y0 + a, ix = jb->x0 + b;
                if (iy >= st->h || ix >= st->w)
                    continue; /* padding */
                float wgt = r->gauss[(size_t)a * r->TW + b];
                size_t band = (size_t)st->ring * st->w, ip = (size_t)(iy % st->ring) * st->w + ix;
                for (int k = 0; k < r->K; k++)
                    st->acc[(size_t)k * band + ip] += wgt * o[(size_t)k * thw + (size_t)y * r->TW + x];
            }
        if (jb->fin)
            finish_rows(r, st, jb->fin);
        st->pending--;
    }
    r->nb = 0;
    return finish_ready(r, err, errlen);
}

int nr_window_run(nr_model *m, const nr_dataset *ds, nr_window_job *j, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    const ng_tensor *im = &g->tensors[g->bind.image];
    runner r = {0};
    r.m = m, r.g = g, r.j = j;
    r.B = im->dim[0], r.C = im->dim[1], r.TH = im->dim[2], r.TW = im->dim[3];
    r.K = g->bind.classes, r.ignore = g->bind.ignore;
    r.eval = strcmp(j->entry, "eval") == 0;
    r.members = nr_ensemble_size(j->ens);
    j->loss_sum = 0, j->loss_n = 0, j->tiles = 0;
    if (r.eval && g->bind.labels < 0)
        return ng_fail(err, errlen, "the model has no labels input to evaluate with");
    const char *isz = nr_option(g, "infer_size");
    r.resize = !strcmp(isz, "resize") || (!strcmp(isz, "auto") && nr_option_is(g, "size", "resize"));
    double overlap = nr_option_num(g, "overlap"), tau = nr_option_num(g, "prior_correction");
    int n_sym = nr_option_is(g, "tta", "none") ? 1 : nr_option_is(g, "tta", "all") && r.TH == r.TW ? 8 : 4;
    if (nr_image_norm_options(g, r.C, r.mean, r.stdv, err, errlen) != 0)
        return -1;
    const int64_t *cnt = nr_model_class_counts(m);
    if (tau > 0 && !cnt)
        return ng_fail(err, errlen, "prior_correction %g needs the training set's class counts, which this "
                       "checkpoint does not hold", tau);
    int rc = -1, n_mine = 0, n = ds ? nr_dataset_count(ds) : j->n_images;
    prefetch pf = {0};
    r.mem = ng_carve_alloc(runner_layout(&r, NULL, tau > 0));
    int *order = malloc(sizeof *order * (size_t)(n ? n : 1));
    if (!r.mem || !order) {
        ng_fail(err, errlen, "out of memory");
        goto done;
    }
    runner_layout(&r, r.mem, tau > 0);
    for (int k = 0; tau > 0 && k < r.K; k++)
        r.pw[k] = (float)pow(nr_window_prior(cnt, r.K, k), -tau);
    nr_window_gaussian(r.TH, r.TW, nr_option_num(g, "window_sigma"), r.gauss);
    for (int i = j->all ? 0 : nr_dist_rank(); i < n; i += j->all ? 1 : nr_dist_size())
        order[n_mine++] = i;
    pf.ds = ds, pf.c = r.C, pf.classes = r.K, pf.ignore = r.ignore, pf.with_masks = j->with_masks;
    pf.load = j->load, pf.load_ctx = j->load_ctx;
    pf.order = order, pf.n = n_mine;
    if (prefetch_start(&pf) != 0) {
        ng_fail(err, errlen, "cannot start the image loader thread");
        goto done;
    }
    for (int t = 0; t < n_mine; t++) {
        loaded l = prefetch_next(&pf);
        if (l.rc != 0) {
            free(l.img);
            free(l.mask);
            ng_fail(err, errlen, "%s", l.err);
            goto done;
        }
        img_state *s = calloc(1, sizeof *s);
        if (!s) {
            free(l.img);
            free(l.mask);
            ng_fail(err, errlen, "out of memory");
            goto done;
        }
        s->idx = order[t], s->h = l.h, s->w = l.w, s->raw = l.img, s->mask = l.mask;
        if (r.tail)
            r.tail->next = s;
        else
            r.head = s;
        r.tail = s;
        size_t hw = (size_t)s->h * s->w;
        float *norm = NULL; /* resize mode: the image normalized, then resized into s->norm */
        if (!(s->mem = ng_carve_alloc(state_layout(s, NULL, &r))) ||
            (r.resize && !(norm = malloc(sizeof *norm * r.C * hw)))) {
            ng_fail(err, errlen, "out of memory");
            goto done;
        }
        state_layout(s, s->mem, &r);
        if (r.resize) {
            memcpy(norm, s->raw, sizeof *norm * r.C * hw);
            nr_normalize(norm, r.C, hw, r.mean, r.stdv);
            nr_resize_bilinear(norm, r.C, s->h, s->w, s->norm, r.TH, r.TW);
            if (s->mask)
                nr_resize_nearest(s->mask, s->h, s->w, s->rmask, r.TH, r.TW);
            free(norm);
        }
        int ny = r.resize ? 1 : nr_window_positions(s->h, r.TH, overlap, NULL, 0);
        int nx = r.resize ? 1 : nr_window_positions(s->w, r.TW, overlap, NULL, 0);
        int *py = malloc(sizeof *py * (size_t)ny), *px = malloc(sizeof *px * (size_t)nx);
        if (!py || !px) {
            free(py);
            free(px);
            ng_fail(err, errlen, "out of memory");
            goto done;
        }
        if (r.resize)
            py[0] = px[0] = 0;
        else {
            nr_window_positions(s->h, r.TH, overlap, py, ny);
            nr_window_positions(s->w, r.TW, overlap, px, nx);
        }
        int bad = 0;
        for (int a = 0; a < ny && !bad; a++)
            for (int b = 0; b < nx && !bad; b++)
                for (int v = 0; v < n_sym && !bad; v++) {
                    int fin = r.resize || b < nx - 1 || v < n_sym - 1 ? 0 : a + 1 < ny ? py[a + 1] : s->h;
                    fill_job(&r, s, py[a], px[b], v, fin); /* 0 identity, 1 h, 2 v, 3 both; 4..7 transposed */
                    if (r.nb == r.B && run_batch(&r, err, errlen) != 0)
                        bad = 1;
                }
        free(py);
        free(px);
        if (bad)
            goto done;
        s->queued_all = 1;
        if (finish_ready(&r, err, errlen) != 0)
            goto done;
    }
    if (run_batch(&r, err, errlen) != 0 || finish_ready(&r, err, errlen) != 0)
        goto done;
    rc = 0;
done:
    prefetch_stop(&pf);
    while (r.head) {
        img_state *s = r.head;
        r.head = s->next;
        state_free(s);
    }
    free(r.mem);
    free(order);
    return rc;
}
