/* batcher.c — nr_batcher_* (batcher.h): batches loaded by loader threads
 * into two buffers.  The batcher hands batch k out of slot k % 2; the
 * workers fill slots in submission order and the main thread never touches
 * a slot being filled. */
#define _POSIX_C_SOURCE 200809L
#include "batcher.h"
#include "image.h"
#include "options.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    float *image;   /* (batch,C,H,W) */
    int32_t *mask;  /* (batch,H,W) or NULL */
    int *idx;       /* (batch) sample numbers to load */
    int n;          /* real samples in this batch */
    int claimed;    /* samples a worker has taken (under mu) */
    int done;       /* samples finished (under mu) */
    int augment;    /* the batcher's settings when the batch was submitted: */
    uint64_t seed;  /* augmentation seed */
    uint64_t pos0;  /* stream position of idx[0] */
    int policy;     /* NR_SIZE_* */
    nr_crop_fn crop;
    void *crop_ctx;
    int rc;         /* 0, or -1 with err (of the lowest failing sample, err_j) */
    int err_j;
    char err[512];
} batch_slot;

struct nr_batcher {
    const nr_dataset *ds;
    int batch, c, h, w, classes, ignore, with_masks;
    size_t img_elems;  /* C*H*W per sample */
    size_t mask_elems; /* H*W per sample */
    batch_slot slot[2];
    int n_threads;
    float *tmp_image;  /* (n_threads,C,H,W) each worker's scratch for augmentation */
    int32_t *tmp_mask; /* (n_threads,H,W) with masks, else NULL */
    float mean[3], std[3]; /* normalization (set before the first submit) */
    /* main thread only */
    int augment, policy;
    uint64_t seed, stream_pos;
    nr_crop_fn crop;
    void *crop_ctx;
    double wait_s;     /* seconds nr_batcher_wait blocked, */
    int64_t waits;     /* over this many waits */
    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    uint64_t submitted, waited; /* batch counts */
    int stop;
    int synced;  /* mu, cv_work and cv_done created */
    int started; /* threads created */
    pthread_t *threads; /* (n_threads) */
    void *mem;   /* the one block the slots' buffers, the scratch and threads
                    are carved from */
};

/* The batcher's arrays: both slots' buffers, each worker's scratch, the
 * threads; measures with base NULL (util.h's ng_carve, which checks the
 * product of a count and the bytes of one sample's image or mask). */
static size_t layout(nr_batcher *b, char *base)
{
    size_t at = 0, n = (size_t)b->batch, nt = (size_t)b->n_threads;
    size_t img_bytes = b->img_elems * sizeof *b->tmp_image, mask_bytes = b->mask_elems * sizeof *b->tmp_mask;
    for (int k = 0; k < 2; k++) {
        batch_slot *s = &b->slot[k];
        s->image = ng_carve(base, &at, n, img_bytes);
        s->mask = b->with_masks ? ng_carve(base, &at, n, mask_bytes) : NULL;
        s->idx = ng_carve(base, &at, n, sizeof *s->idx);
    }
    b->tmp_image = ng_carve(base, &at, nt, img_bytes);
    b->tmp_mask = b->with_masks ? ng_carve(base, &at, nt, mask_bytes) : NULL;
    b->threads = ng_carve(base, &at, nt, sizeof *b->threads);
    return at;
}

/* out (y,x) = in (a,b), where (a,b) is (y,x) transposed if tr, then flipped
 * vertically if fv and horizontally if fh: one of the 8 symmetries of the
 * square (tr only when h == w).  Same map for image planes and mask. */
static void augment_sample(const nr_batcher *b, int fh, int fv, int tr,
                           const float *in_img, const int32_t *in_mask,
                           float *out_img, int32_t *out_mask)
{
    int h = b->h, w = b->w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int a = tr ? x : y, bb = tr ? y : x;
            if (fv)
                a = h - 1 - a;
            if (fh)
                bb = w - 1 - bb;
            size_t o = (size_t)y * (size_t)w + (size_t)x;
            size_t s = (size_t)a * (size_t)w + (size_t)bb;
            for (int k = 0; k < b->c; k++)
                out_img[(size_t)k * b->mask_elems + o] =
                    in_img[(size_t)k * b->mask_elems + s];
            if (out_mask)
                out_mask[o] = in_mask[s];
        }
}

uint64_t nr_batcher_draw(uint64_t seed, uint64_t pos)
{
    return ng_splitmix64(seed ^ 0x63726f70ULL ^ ng_splitmix64(pos ^ 0x5bd1e995ULL));
}

/* The crop's top-left corner for an ih x iw image: uniform over the
 * positions that keep the window inside the image (or the image inside the
 * window, along a side where it is smaller), then the hook's choice. */
static void crop_origin(const nr_batcher *b, const batch_slot *s, int sample, int slot, uint64_t draw, int ih,
                        int iw, int *y0, int *x0)
{
    int lo_y = ih < b->h ? ih - b->h : 0, hi_y = ih < b->h ? 0 : ih - b->h;
    int lo_x = iw < b->w ? iw - b->w : 0, hi_x = iw < b->w ? 0 : iw - b->w;
    *y0 = lo_y + (int)((draw & 0xffffffffu) % (uint64_t)(hi_y - lo_y + 1));
    *x0 = lo_x + (int)((draw >> 32) % (uint64_t)(hi_x - lo_x + 1));
    if (s->crop && (ih > b->h || iw > b->w)) {
        s->crop(s->crop_ctx, sample, slot, draw, ih, iw, b->h, b->w, y0, x0);
        /* at least one image pixel in the window */
        if (*y0 < 1 - b->h)
            *y0 = 1 - b->h;
        if (*y0 > ih - 1)
            *y0 = ih - 1;
        if (*x0 < 1 - b->w)
            *x0 = 1 - b->w;
        if (*x0 > iw - 1)
            *x0 = iw - 1;
    }
}

/* Load sample j of slot s with worker wid's scratch: decode, normalize,
 * bring to the model size by the slot's policy, augment.  0 or -1. */
static int load_one(nr_batcher *b, batch_slot *s, int j, int wid, char *err, size_t errlen)
{
    float *out_img = s->image + (size_t)j * b->img_elems;
    int32_t *out_mask = s->mask ? s->mask + (size_t)j * b->mask_elems : NULL;
    float *im;
    int32_t *m = NULL;
    int ih, iw, sample = s->idx[j];
    if (nr_dataset_load_any(b->ds, sample, b->c, b->classes, b->ignore, &im, out_mask ? &m : NULL, &ih, &iw, err,
                            errlen) < 0)
        return -1;
    nr_normalize(im, b->c, (size_t)ih * (size_t)iw, b->mean, b->std);
    uint64_t pos = s->pos0 + (uint64_t)j;
    int fh = 0, fv = 0, tr = 0;
    if (s->augment) {
        uint64_t r = ng_splitmix64(s->seed ^ ng_splitmix64(pos));
        fh = (int)(r & 1), fv = (int)(r >> 1 & 1);
        tr = b->h == b->w && (r >> 2 & 1);
    }
    int direct = !(fh || fv || tr);
    float *tmp_img = b->tmp_image + (size_t)wid * b->img_elems;
    int32_t *tmp_mask = out_mask ? b->tmp_mask + (size_t)wid * b->mask_elems : NULL;
    float *di = direct ? out_img : tmp_img;
    int32_t *dm = direct ? out_mask : tmp_mask;
    if (ih == b->h && iw == b->w) {
        memcpy(di, im, sizeof *im * b->img_elems);
        if (dm)
            memcpy(dm, m, sizeof *m * b->mask_elems);
    } else if (s->policy == NR_SIZE_RESIZE) {
        nr_resize_bilinear(im, b->c, ih, iw, di, b->h, b->w);
        if (dm)
            nr_resize_nearest(m, ih, iw, dm, b->h, b->w);
    } else {
        int y0 = 0, x0 = 0;
        if (s->policy == NR_SIZE_CROP) {
            uint64_t draw = nr_batcher_draw(s->seed, pos);
            crop_origin(b, s, sample, j, draw, ih, iw, &y0, &x0);
        }
        nr_window_f32(im, b->c, ih, iw, y0, x0, di, b->h, b->w, 0.0f);
        if (dm)
            nr_window_i32(m, ih, iw, y0, x0, dm, b->h, b->w, b->ignore);
    }
    free(im);
    free(m);
    if (!direct)
        augment_sample(b, fh, fv, tr, tmp_img, tmp_mask, out_img, out_mask);
    return 0;
}

typedef struct {
    nr_batcher *b;
    int wid;
} worker_arg;

static void *batcher_main(void *arg)
{
    worker_arg *wa = arg;
    nr_batcher *b = wa->b;
    int wid = wa->wid;
    free(wa);
    char err[512];
    pthread_mutex_lock(&b->mu);
    for (;;) {
        batch_slot *s = NULL;
        while (!b->stop) {
            for (uint64_t q = b->waited; q < b->submitted && !s; q++)
                if (b->slot[q % 2].claimed < b->slot[q % 2].n)
                    s = &b->slot[q % 2];
            if (s)
                break;
            pthread_cond_wait(&b->cv_work, &b->mu);
        }
        if (b->stop)
            break;
        int j = s->claimed++;
        pthread_mutex_unlock(&b->mu);
        err[0] = 0;
        int rc = load_one(b, s, j, wid, err, sizeof err);
        pthread_mutex_lock(&b->mu);
        if (rc < 0 && (s->rc == 0 || j < s->err_j)) {
            s->rc = -1;
            s->err_j = j;
            snprintf(s->err, sizeof s->err, "%s", err);
        }
        if (++s->done == s->n)
            pthread_cond_broadcast(&b->cv_done);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

void nr_batcher_free(nr_batcher *b)
{
    if (!b)
        return;
    if (b->started) {
        pthread_mutex_lock(&b->mu);
        b->stop = 1;
        pthread_cond_broadcast(&b->cv_work);
        pthread_mutex_unlock(&b->mu);
    }
    for (int t = 0; t < b->started; t++)
        pthread_join(b->threads[t], NULL);
    if (b->synced) {
        pthread_cond_destroy(&b->cv_work);
        pthread_cond_destroy(&b->cv_done);
        pthread_mutex_destroy(&b->mu);
    }
    free(b->mem);
    free(b);
}

/* Loader threads: NETRUN_LOADER_THREADS, else the cores, at most 4. */
static int loader_threads(void)
{
    const char *e = getenv("NETRUN_LOADER_THREADS");
    if (e && *e) {
        int n = atoi(e);
        return n < 1 ? 1 : n > 64 ? 64 : n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 4 ? 4 : (int)n;
}

nr_batcher *nr_batcher_new(const nr_dataset *ds, int batch, int c, int h,
                           int w, int classes, int ignore, int with_masks,
                           char *err, size_t errlen)
{
    if (!ds || batch <= 0 || (c != 1 && c != 3) || h <= 0 || w <= 0 ||
        classes <= 0) {
        ng_fail(err, errlen,
                "batcher: bad arguments (batch %d, %d channels, %dx%d, %d "
                "classes)", batch, c, w, h, classes);
        return NULL;
    }
    if (with_masks && !nr_dataset_has_masks(ds)) {
        ng_fail(err, errlen, "%s: no masks (dataset opened without masks)",
                nr_dataset_count(ds) ? nr_dataset_image_path(ds, 0) : "dataset");
        return NULL;
    }
    size_t hw = (size_t)h * (size_t)w;
    if (hw / (size_t)h != (size_t)w || hw > SIZE_MAX / 8 / (size_t)c ||
        hw * (size_t)c > SIZE_MAX / 8 / (size_t)batch) {
        ng_fail(err, errlen, "batcher: batch of %d x %dx%dx%d is too large",
                batch, c, h, w);
        return NULL;
    }
    nr_batcher *b = calloc(1, sizeof *b);
    if (!b) {
        ng_fail(err, errlen, "batcher: out of memory");
        return NULL;
    }
    b->ds = ds;
    b->batch = batch, b->c = c, b->h = h, b->w = w;
    b->classes = classes, b->ignore = ignore, b->with_masks = with_masks;
    b->img_elems = hw * (size_t)c;
    b->mask_elems = hw;
    b->policy = NR_SIZE_CROP;
    for (int k = 0; k < 3; k++)
        b->mean[k] = 0, b->std[k] = 1;
    b->n_threads = loader_threads();
    if (!(b->mem = ng_carve_alloc(layout(b, NULL)))) {
        ng_fail(err, errlen, "batcher: out of memory");
        nr_batcher_free(b);
        return NULL;
    }
    layout(b, b->mem);
    if (pthread_mutex_init(&b->mu, NULL) != 0 || pthread_cond_init(&b->cv_work, NULL) != 0 ||
        pthread_cond_init(&b->cv_done, NULL) != 0) {
        /* (the three are not destroyed: on Linux they hold no resources) */
        ng_fail(err, errlen, "batcher: cannot create a mutex or condition variable");
        nr_batcher_free(b);
        return NULL;
    }
    b->synced = 1;
    for (int t = 0; t < b->n_threads; t++) {
        worker_arg *wa = malloc(sizeof *wa);
        int e = wa ? 0 : ENOMEM;
        if (wa) {
            wa->b = b, wa->wid = t;
            e = pthread_create(&b->threads[t], NULL, batcher_main, wa);
            if (e)
                free(wa);
        }
        if (e != 0) {
            ng_fail(err, errlen, "batcher: cannot start a loader thread: %s", strerror(e));
            nr_batcher_free(b);
            return NULL;
        }
        b->started = t + 1;
    }
    return b;
}

void nr_batcher_set_augment(nr_batcher *b, uint64_t seed, uint64_t pos)
{
    b->augment = 1;
    b->seed = seed;
    b->stream_pos = pos;
}

void nr_batcher_set_stream(nr_batcher *b, uint64_t seed, uint64_t pos)
{
    b->seed = seed;
    b->stream_pos = pos;
}

void nr_batcher_set_size(nr_batcher *b, int policy)
{
    b->policy = policy;
}

void nr_batcher_set_normalize(nr_batcher *b, const float *mean, const float *std)
{
    for (int k = 0; k < b->c; k++)
        b->mean[k] = mean[k], b->std[k] = std[k];
}

void nr_batcher_set_crop(nr_batcher *b, nr_crop_fn fn, void *ctx)
{
    b->crop = fn;
    b->crop_ctx = ctx;
}

int nr_batcher_threads(const nr_batcher *b)
{
    return b->n_threads;
}

double nr_batcher_wait_seconds(const nr_batcher *b, int64_t *waits)
{
    if (waits)
        *waits = b->waits;
    return b->wait_s;
}

int nr_batcher_submit(nr_batcher *b, const int *idx, int n)
{
    if (!b || n < 0 || n > b->batch || (n > 0 && !idx))
        return -1;
    pthread_mutex_lock(&b->mu);
    if (b->submitted - b->waited >= 2) {
        pthread_mutex_unlock(&b->mu);
        return -1;
    }
    /* Slot submitted % 2 last held batch submitted - 2, already waited for
     * (all its samples done), so no worker is touching it. */
    batch_slot *s = &b->slot[b->submitted % 2];
    pthread_mutex_unlock(&b->mu);
    if (n > 0)
        memcpy(s->idx, idx, sizeof *idx * (size_t)n);
    for (int j = n; j < b->batch; j++) {
        memset(s->image + (size_t)j * b->img_elems, 0, sizeof *s->image * b->img_elems);
        if (s->mask)
            for (size_t p = 0; p < b->mask_elems; p++)
                s->mask[(size_t)j * b->mask_elems + p] = b->ignore;
    }
    s->n = n;
    s->claimed = s->done = 0;
    s->rc = 0;
    s->err_j = 0;
    s->err[0] = 0;
    s->augment = b->augment;
    s->seed = b->seed;
    s->pos0 = b->stream_pos;
    s->policy = b->policy;
    s->crop = b->crop;
    s->crop_ctx = b->crop_ctx;
    b->stream_pos += (uint64_t)n;
    pthread_mutex_lock(&b->mu);
    b->submitted++;
    pthread_cond_broadcast(&b->cv_work);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

int nr_batcher_wait(nr_batcher *b, float **image, int32_t **mask, int *n,
                    char *err, size_t errlen)
{
    pthread_mutex_lock(&b->mu);
    if (b->waited == b->submitted) {
        pthread_mutex_unlock(&b->mu);
        ng_fail(err, errlen, "batcher: wait without a submitted batch");
        return -1;
    }
    batch_slot *s = &b->slot[b->waited % 2];
    if (s->done < s->n) {
        double t0 = ng_now();
        while (s->done < s->n)
            pthread_cond_wait(&b->cv_done, &b->mu);
        b->wait_s += ng_now() - t0;
    }
    b->waits++;
    b->waited++;
    pthread_mutex_unlock(&b->mu);
    if (image)
        *image = s->image;
    if (mask)
        *mask = s->mask;
    if (n)
        *n = s->n;
    if (s->rc < 0) {
        ng_fail(err, errlen, "%s", s->err);
        return -1;
    }
    return 0;
}

int nr_data_setup_batcher(nr_batcher *b, const ng_graph *g, char *err, size_t errlen)
{
    const ng_tensor *im = &g->tensors[g->bind.image];
    float mean[3], stdv[3];
    if (nr_image_norm_options(g, im->dim[1], mean, stdv, err, errlen) != 0)
        return -1;
    nr_batcher_set_normalize(b, mean, stdv);
    nr_batcher_set_size(b, nr_option_is(g, "size", "resize") ? NR_SIZE_RESIZE
                           : nr_option_is(g, "size", "pad") ? NR_SIZE_PAD : NR_SIZE_CROP);
    return 0;
}

void nr_data_print_profile(FILE *f, const nr_batcher *b, double run_s, int64_t steps)
{
    if (!b || steps <= 0)
        return;
    int64_t waits;
    double wait_s = nr_batcher_wait_seconds(b, &waits);
    double per = wait_s / (double)steps, step = run_s / (double)steps;
    fprintf(f, "data: %d loader thread%s; waited %.2f ms per step for the next batch, %.1f%% of the %.1f ms the "
            "train entry took per step (%lld steps)\n", nr_batcher_threads(b), nr_batcher_threads(b) == 1 ? "" : "s",
            per * 1e3, step > 0 ? 100.0 * per / step : 0.0, step * 1e3, (long long)steps);
}
