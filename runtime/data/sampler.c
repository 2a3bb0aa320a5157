/* sampler.c — foreground-oversampled crops (nnU-Net), the repeat-factor
 * sample stream (LVIS) and a training run's sampling policy over them, on
 * the class location index (class_index.c).  Everything random is a
 * function of a seed and a position (splitmix64), so runs are reproducible
 * and resumable. */
#define _POSIX_C_SOURCE 200809L
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "util.h"

/* ---- foreground oversampling ---------------------------------------------- */

/* The k-th random value of a sample's draw. */
static uint64_t sub(uint64_t draw, uint64_t k)
{
    return ng_splitmix64(draw ^ ng_splitmix64(0x666f726567726f75ULL + k));
}

int nr_fg_forced(const nr_fg_sampler *s, int slot, uint64_t draw)
{
    if (s->fraction <= 0)
        return 0;
    if (s->mode == NR_FG_RANDOM)
        return ng_unit(sub(draw, 0)) < s->fraction;
    /* round half to even (the default rounding mode), as Python's round */
    return slot >= (int)nearbyint((double)s->batch * (1.0 - s->fraction));
}

double nr_fg_effective(const nr_fg_sampler *s)
{
    if (s->fraction <= 0 || s->batch <= 0)
        return 0;
    if (s->mode == NR_FG_RANDOM)
        return s->fraction;
    int first = (int)nearbyint((double)s->batch * (1.0 - s->fraction));
    return (double)(s->batch - first) / s->batch;
}

/* The offsets a crop-long window may take along an img-long axis, lo..hi
 * (negative: padded, where the image is shorter); returns how many. */
static int axis_range(int img, int crop, int *lo, int *hi)
{
    *lo = img - crop < 0 ? img - crop : 0;
    *hi = img - crop > 0 ? img - crop : 0;
    return *hi - *lo + 1;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int nr_fg_draw(const nr_fg_sampler *s, int slot, uint64_t draw, int *image)
{
    const int *classes, *holders;
    int n_cls = s->ix ? nr_class_index_fg(s->ix, &classes) : 0;
    if (n_cls == 0 || s->by_image || !nr_fg_forced(s, slot, draw))
        return -1;
    int c = classes[ng_below(sub(draw, 1), (uint64_t)n_cls)];
    int n_img = nr_class_index_holders(s->ix, c, &holders);
    *image = holders[ng_below(sub(draw, 7), (uint64_t)n_img)];
    return c;
}

/* The class of a forced crop of image under foreground_draw = image: uniform
 * among the foreground classes the image holds; -1 when not forced or none. */
static int image_class(const nr_fg_sampler *s, int image, int slot, uint64_t draw)
{
    const int *classes;
    int n_cls = s->ix ? nr_class_index_fg(s->ix, &classes) : 0, held = 0;
    if (image < 0 || image >= (s->ix ? nr_class_index_images(s->ix) : 0) || !nr_fg_forced(s, slot, draw))
        return -1;
    for (int k = 0; k < n_cls; k++)
        held += nr_class_index_pixels(s->ix, image, classes[k]) > 0;
    if (held == 0)
        return -1;
    int pick = (int)ng_below(sub(draw, 1), (uint64_t)held);
    for (int k = 0; k < n_cls; k++)
        if (nr_class_index_pixels(s->ix, image, classes[k]) > 0 && pick-- == 0)
            return classes[k];
    return -1;
}

void nr_fg_images(nr_fg_sampler *s, uint64_t seed, uint64_t pos, int count, int *idx)
{
    for (int j = 0; j < count; j++) {
        int image;
        uint64_t draw = nr_batcher_draw(seed, pos + (uint64_t)j);
        if (s->by_image)
            s->forced += nr_fg_forced(s, j, draw);
        else if (nr_fg_draw(s, j, draw, &image) >= 0)
            idx[j] = image, s->forced++;
    }
    s->drawn += count;
}

int nr_fg_choose(const nr_fg_sampler *s, int image, int slot, uint64_t draw, int img_h, int img_w, int crop_h,
                 int crop_w, int *y0, int *x0, int *cy, int *cx)
{
    int ylo, yhi, xlo, xhi;
    int ny = axis_range(img_h, crop_h, &ylo, &yhi), nx = axis_range(img_w, crop_w, &xlo, &xhi);
    int drawn_image, cls = s->by_image ? image_class(s, image, slot, draw) : nr_fg_draw(s, slot, draw, &drawn_image);
    const uint32_t *pos;
    int n_pos = cls >= 0 && image >= 0 && image < nr_class_index_images(s->ix)
                    ? nr_class_index_locations(s->ix, image, cls, &pos) : 0;
    if (n_pos == 0) { /* not forced, or not the drawn image's class: uniform */
        *y0 = ylo + (int)ng_below(sub(draw, 5), (uint64_t)ny);
        *x0 = xlo + (int)ng_below(sub(draw, 6), (uint64_t)nx);
        return -1;
    }
    int ih, iw;
    uint32_t p = pos[ng_below(sub(draw, 2), (uint64_t)n_pos)];
    nr_class_index_size(s->ix, image, &ih, &iw);
    int py = (int)(p / (uint32_t)iw), px = (int)(p % (uint32_t)iw);
    if (ih != img_h) /* the image was resized: nearest position */
        py = (int)((int64_t)py * img_h / ih);
    if (iw != img_w)
        px = (int)((int64_t)px * img_w / iw);
    int jy = s->jitter < 0 ? crop_h / 4 : s->jitter, jx = s->jitter < 0 ? crop_w / 4 : s->jitter;
    if (jy > (crop_h - 1) / 2)
        jy = (crop_h - 1) / 2;
    if (jx > (crop_w - 1) / 2)
        jx = (crop_w - 1) / 2;
    int dy = (int)ng_below(sub(draw, 3), (uint64_t)(2 * jy + 1)) - jy;
    int dx = (int)ng_below(sub(draw, 4), (uint64_t)(2 * jx + 1)) - jx;
    *y0 = clampi(py + dy - crop_h / 2, ylo, yhi);
    *x0 = clampi(px + dx - crop_w / 2, xlo, xhi);
    if (cy)
        *cy = py;
    if (cx)
        *cx = px;
    return cls;
}

/* ---- repeat factors --------------------------------------------------------- */

void nr_repeat_factors(const nr_class_index *ix, double t, double *r)
{
    int K = nr_class_index_classes(ix), n = nr_class_index_images(ix);
    int64_t *imgs = calloc((size_t)K, sizeof *imgs);
    if (!imgs) { /* no room for 256 counters: no repetition */
        for (int i = 0; i < n; i++)
            r[i] = 1;
        return;
    }
    for (int i = 0; i < n; i++)
        for (int c = 0; c < K; c++)
            imgs[c] += nr_class_index_pixels(ix, i, c) > 0;
    for (int i = 0; i < n; i++) {
        double ri = 1;
        for (int c = 0; c < K; c++)
            if (nr_class_index_pixels(ix, i, c) > 0) {
                double f = (double)imgs[c] / n, v = sqrt(t / f);
                if (v > ri)
                    ri = v;
            }
        r[i] = ri;
    }
    free(imgs);
}

struct nr_repeat {
    int n, shuffle;
    double *r;          /* (n) factors */
    uint64_t key;       /* from the seed */
    int64_t epoch_len;
    int64_t base;       /* sum of floor(r_i) */
    int64_t round;      /* the round the cursor is in */
    int64_t start;      /* its first stream position */
    int64_t len;        /* its length */
    int have_list;      /* list holds that round */
    int *list;          /* (cap) */
    int64_t cap;
};

void nr_repeat_free(nr_repeat *rp)
{
    if (!rp)
        return;
    free(rp->r);
    free(rp->list);
    free(rp);
}

/* Whether round k has the extra copy of image i. */
static int extra_copy(const nr_repeat *rp, int64_t k, int i)
{
    double f = rp->r[i] - floor(rp->r[i]);
    return f > 0 && ng_unit(ng_splitmix64(ng_splitmix64(rp->key ^ ng_splitmix64((uint64_t)k)) ^ (uint64_t)i)) < f;
}

static int64_t round_len(const nr_repeat *rp, int64_t k)
{
    int64_t len = rp->base;
    for (int i = 0; i < rp->n; i++)
        len += extra_copy(rp, k, i);
    return len;
}

nr_repeat *nr_repeat_new(const double *r, int n, uint64_t seed, int shuffle, char *err, size_t errlen)
{
    if (n < 1) {
        ng_fail(err, errlen, "repeat factors: no images");
        return NULL;
    }
    nr_repeat *rp = calloc(1, sizeof *rp);
    if (!rp || !(rp->r = malloc((size_t)n * sizeof *rp->r))) {
        free(rp);
        ng_fail(err, errlen, "repeat factors: out of memory");
        return NULL;
    }
    rp->n = n, rp->shuffle = shuffle;
    rp->key = ng_splitmix64(seed ^ 0x7265706561745f73ULL);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        if (!(r[i] >= 1) || !(r[i] < 1e6)) {
            nr_repeat_free(rp);
            ng_fail(err, errlen, "repeat factors: image %d has factor %g (1..1e6)", i, r[i]);
            return NULL;
        }
        rp->r[i] = r[i];
        rp->base += (int64_t)floor(r[i]);
        sum += r[i];
    }
    rp->epoch_len = llround(sum);
    if (rp->epoch_len < n)
        rp->epoch_len = n;
    rp->cap = rp->base + n;
    if (!(rp->list = malloc((size_t)rp->cap * sizeof *rp->list))) {
        nr_repeat_free(rp);
        ng_fail(err, errlen, "repeat factors: out of memory");
        return NULL;
    }
    rp->round = 0, rp->start = 0, rp->len = round_len(rp, 0);
    return rp;
}

int64_t nr_repeat_epoch_len(const nr_repeat *rp)
{
    return rp->epoch_len;
}

static void make_list(nr_repeat *rp)
{
    int64_t at = 0;
    for (int i = 0; i < rp->n; i++) {
        int64_t copies = (int64_t)floor(rp->r[i]) + extra_copy(rp, rp->round, i);
        for (int64_t c = 0; c < copies; c++)
            rp->list[at++] = i;
    }
    if (rp->shuffle) {
        uint64_t s = ng_splitmix64(rp->key ^ ng_splitmix64(~(uint64_t)rp->round));
        for (int64_t i = at - 1; i > 0; i--) {
            s = ng_splitmix64(s);
            int64_t j = (int64_t)ng_below(s, (uint64_t)(i + 1));
            int t = rp->list[i];
            rp->list[i] = rp->list[j];
            rp->list[j] = t;
        }
    }
    rp->have_list = 1;
}

int nr_repeat_get(nr_repeat *rp, int64_t pos, int count, int *idx)
{
    for (int j = 0; j < count; j++) {
        int64_t p = pos + j;
        if (p < rp->start) { /* back to the start of the stream */
            rp->round = 0, rp->start = 0, rp->len = round_len(rp, 0), rp->have_list = 0;
        }
        while (p >= rp->start + rp->len) {
            rp->start += rp->len;
            rp->round++;
            rp->len = round_len(rp, rp->round);
            rp->have_list = 0;
        }
        if (!rp->have_list)
            make_list(rp);
        idx[j] = rp->list[p - rp->start];
    }
    return 0;
}

/* ---- a training run's sampling ---------------------------------------------- */

void nr_fg_crop_hook(void *ctx, int sample, int slot, uint64_t draw, int img_h, int img_w, int crop_h,
                     int crop_w, int *y0, int *x0)
{
    int y, x;
    if (nr_fg_choose(ctx, sample, slot, draw, img_h, img_w, crop_h, crop_w, &y, &x, NULL, NULL) >= 0)
        *y0 = y, *x0 = x;
}

/* What foreground oversampling does on this data: its line on out, or a
 * warning when it does nothing. */
static void print_foreground(const nr_fg_sampler *f, const ng_graph *g, int n, int model_h, int model_w, FILE *out)
{
    const int *classes;
    int n_cls = nr_class_index_fg(f->ix, &classes), larger = 0;
    if (n_cls == 0) {
        fprintf(out, "warning: option foreground = %g does nothing here: the training masks hold no foreground "
                "class\n", f->fraction);
        return;
    }
    for (int i = 0; i < n && !larger; i++) {
        int h, w;
        nr_class_index_size(f->ix, i, &h, &w);
        larger = h > model_h || w > model_w;
    }
    const char *policy = nr_option(g, "size");
    char crops[128] = "";
    if (larger && (!policy || strcmp(policy, "crop") == 0)) {
        if (f->jitter < 0)
            snprintf(crops, sizeof crops, "; their crops centred on a pixel of the class, centre jitter %d x %d px "
                     "(a quarter of the crop)", model_h / 4, model_w / 4);
        else
            snprintf(crops, sizeof crops, "; their crops centred on a pixel of the class, centre jitter %d px",
                     f->jitter);
    }
    double eff = nr_fg_effective(f);
    if (f->by_image) {
        if (!crops[0])
            fprintf(out, "warning: option foreground = %g with foreground_draw = image does nothing here: no "
                    "crops to centre on a class\n", f->fraction);
        else if (f->mode == NR_FG_LAST)
            fprintf(out, "foreground oversampling: the last %d of every %d crops centred on a foreground class "
                    "of their image (foreground_draw = image)%s\n", (int)llround(eff * f->batch), f->batch, crops);
        else
            fprintf(out, "foreground oversampling: each crop with probability %g centred on a foreground class "
                    "of its image (foreground_draw = image)%s\n", f->fraction, crops);
        return;
    }
    if (f->mode == NR_FG_LAST)
        fprintf(out, "foreground oversampling: the last %d of every %d images drawn by class (%.3g of %g asked; "
                "%d foreground classes in %d images)%s\n", (int)llround(eff * f->batch), f->batch, eff,
                f->fraction, n_cls, n, crops);
    else
        fprintf(out, "foreground oversampling: each image with probability %g drawn by class (%d foreground "
                "classes in %d images)%s\n", f->fraction, n_cls, n, crops);
    if (f->mode == NR_FG_LAST && eff == 0)
        fprintf(out, "warning: with batch %d, no slot is forced (nnU-Net rounds batch * (1 - %g)); use "
                "option foreground_mode = random\n", f->batch, f->fraction);
}

struct nr_sampling {
    nr_class_index *ix;
    nr_fg_sampler fg; /* fraction 0: off */
    nr_repeat *rep;   /* NULL: off */
    int n;
};

void nr_sampling_free(nr_sampling *s)
{
    if (!s)
        return;
    nr_class_index_free(s->ix);
    nr_repeat_free(s->rep);
    free(s);
}

nr_sampling *nr_sampling_new(const ng_graph *g, const nr_dataset *ds, const char *rundir, int batch,
                             int model_h, int model_w, uint64_t seed, int shuffle, FILE *out, char *err,
                             size_t errlen)
{
    nr_sampling *s = calloc(1, sizeof *s);
    double *r = NULL;
    char cache[4096];
    if (!s) {
        ng_fail(err, errlen, "out of memory");
        return NULL;
    }
    if (rundir && snprintf(cache, sizeof cache, "%s/class_stats.bin", rundir) >= (int)sizeof cache) {
        ng_fail(err, errlen, "%s: path too long", rundir);
        goto fail;
    }
    s->n = nr_dataset_count(ds);
    if (!(s->ix = nr_class_index_get(ds, g->bind.classes, g->bind.ignore, NR_CLASS_LOCS_MAX, rundir ? cache : NULL,
                                     out, NULL, err, errlen)))
        goto fail;
    double fg = nr_option_num(g, "foreground"), t = nr_option_num(g, "repeat");
    double jit = nr_option_num(g, "foreground_jitter");
    if (!(fg >= 0 && fg <= 1) || !(t >= 0 && t <= 1) || !(jit >= -1)) { /* NaN: a table without the rows */
        ng_fail(err, errlen, "%s: the sampling options are missing from the option table",
                g->source ? g->source : "graph");
        goto fail;
    }
    if (fg > 0) {
        s->fg = (nr_fg_sampler){s->ix, fg, nr_option_is(g, "foreground_mode", "random") ? NR_FG_RANDOM : NR_FG_LAST,
                                (int)jit, batch, 0, 0, nr_option_is(g, "foreground_draw", "image")};
        if (out)
            print_foreground(&s->fg, g, s->n, model_h, model_w, out);
    }
    if (t > 0) {
        if (!(r = malloc(sizeof *r * (size_t)s->n))) {
            ng_fail(err, errlen, "out of memory");
            goto fail;
        }
        nr_repeat_factors(s->ix, t, r);
        if (!(s->rep = nr_repeat_new(r, s->n, seed, shuffle, err, errlen)))
            goto fail;
        if (nr_repeat_epoch_len(s->rep) > 1000000000) {
            ng_fail(err, errlen, "option repeat = %g: an epoch of %lld samples is too long", t,
                    (long long)nr_repeat_epoch_len(s->rep));
            goto fail;
        }
        if (out) {
            double mx = 1;
            int more = 0;
            for (int i = 0; i < s->n; i++)
                mx = r[i] > mx ? r[i] : mx, more += r[i] > 1;
            fprintf(out, "repeat factors (t = %g): %d of %d images drawn more than once per epoch (up to %.3g "
                    "times); an epoch is %lld samples\n", t, more, s->n, mx,
                    (long long)nr_repeat_epoch_len(s->rep));
        }
    }
    free(r);
    return s;
fail:
    free(r);
    nr_sampling_free(s);
    return NULL;
}

void nr_sampling_class_counts(const nr_sampling *s, int64_t *counts)
{
    nr_class_index_totals(s->ix, counts);
}

int nr_sampling_epoch_len(const nr_sampling *s)
{
    return s->rep ? (int)nr_repeat_epoch_len(s->rep) : s->n;
}

int nr_sampling_order(nr_sampling *s, int epoch, int *order)
{
    if (!s || !s->rep)
        return 0;
    int64_t L = nr_repeat_epoch_len(s->rep);
    nr_repeat_get(s->rep, (int64_t)epoch * L, (int)L, order);
    return 1;
}

void nr_sampling_images(nr_sampling *s, uint64_t seed, uint64_t pos, int count, int *idx)
{
    if (s && s->fg.fraction > 0)
        nr_fg_images(&s->fg, seed, pos, count, idx);
}

void nr_sampling_attach(nr_sampling *s, nr_batcher *b)
{
    if (s && s->fg.fraction > 0)
        nr_batcher_set_crop(b, nr_fg_crop_hook, &s->fg);
}

const nr_fg_sampler *nr_sampling_foreground(const nr_sampling *s)
{
    return s && s->fg.fraction > 0 ? &s->fg : NULL;
}

void nr_sampling_print_counts(const nr_sampling *s, FILE *out)
{
    const nr_fg_sampler *f = nr_sampling_foreground(s);
    if (!f || !out)
        return;
    fprintf(out, "foreground oversampling: %lld images, %lld %s (%.3f)\n", (long long)f->drawn,
            (long long)f->forced, f->by_image ? "forced (crops centred on a class of their image)" : "drawn by class",
            f->drawn ? (double)f->forced / f->drawn : 0.0);
}
