/* dataset.c — nr_dataset_* (a sorted listing of image/mask PNG pairs) and
 * nr_batcher_* (double-buffered loading on one background pthread).
 * The batcher hands batch k out of slot k % 2; the worker fills slots in
 * submission order and the main thread never touches a slot being filled. */
#define _POSIX_C_SOURCE 200809L
#include "dataset.h"
#include "util.h"
#include "png.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct nr_dataset {
    int n;
    char **name;  /* (n) file names, sorted */
    char **image; /* (n) image paths */
    char **mask;  /* (n) mask paths, or NULL when opened without masks */
};

/* Append to err after what is already there (message building). */
static void add_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    size_t used = strlen(err);
    if (used + 1 >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + used, errlen - used, fmt, ap);
    va_end(ap);
}

static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int slash = la > 0 && a[la - 1] != '/';
    char *p = malloc(la + (size_t)slash + lb + 1);
    if (!p)
        return NULL;
    memcpy(p, a, la);
    if (slash)
        p[la] = '/';
    memcpy(p + la + slash, b, lb + 1);
    return p;
}

static int is_png_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcasecmp(name + n - 4, ".png") == 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- listing ----------------------------------------------------------- */

typedef struct {
    char **v;
    int n, cap;
} name_list;

static void names_free(name_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL, l->n = l->cap = 0;
}

static int names_push(name_list *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v)
            return -1;
        l->v = v, l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The PNG file names in dir, sorted.  0 or -1 with err. */
static int list_pngs(const char *dir, name_list *out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        ng_fail(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_png_name(e->d_name))
            continue;
        char *p = path_join(dir, e->d_name);
        struct stat st;
        int regular = p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
        free(p);
        if (!p || (regular && names_push(out, e->d_name) < 0)) {
            ng_fail(err, errlen, "%s: out of memory", dir);
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    if (out->n > 1)
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_names);
    return 0;
}

/* "a.png, b.png, c.png, d.png, e.png and 3 more" for names v[0..n). */
static void add_name_list(char *err, size_t errlen, char *const *v, int n)
{
    for (int i = 0; i < n && i < 5; i++)
        add_err(err, errlen, "%s%s", i ? ", " : "", v[i]);
    if (n > 5)
        add_err(err, errlen, " and %d more", n - 5);
}

/* Pair images with masks by name (both lists sorted).  On a mismatch, err
 * names what is missing on either side. */
static int match_masks(const char *dir, const name_list *img,
                       const name_list *msk, char *err, size_t errlen)
{
    name_list no_mask = {0}, no_image = {0};
    int i = 0, j = 0, oom = 0;
    while (i < img->n || j < msk->n) {
        int c = i == img->n ? 1 : j == msk->n ? -1
                                              : strcmp(img->v[i], msk->v[j]);
        if (c == 0)
            i++, j++;
        else if (c < 0)
            oom |= names_push(&no_mask, img->v[i++]);
        else
            oom |= names_push(&no_image, msk->v[j++]);
    }
    int rc = (no_mask.n || no_image.n || oom) ? -1 : 0;
    if (oom) {
        ng_fail(err, errlen, "%s: out of memory", dir);
    } else if (rc) {
        ng_fail(err, errlen, "%s", "");
        if (no_mask.n == 1)
            add_err(err, errlen, "%s/masks/%s: missing (the mask of images/%s)",
                    dir, no_mask.v[0], no_mask.v[0]);
        else if (no_mask.n > 1) {
            add_err(err, errlen, "%s/masks: %d masks missing: ", dir, no_mask.n);
            add_name_list(err, errlen, no_mask.v, no_mask.n);
        }
        if (no_mask.n && no_image.n)
            add_err(err, errlen, "; ");
        if (no_image.n == 1)
            add_err(err, errlen, "%s/masks/%s: no image of that name in %s/images",
                    dir, no_image.v[0], dir);
        else if (no_image.n > 1) {
            add_err(err, errlen, "%s/masks: %d masks without an image: ", dir,
                    no_image.n);
            add_name_list(err, errlen, no_image.v, no_image.n);
        }
    }
    names_free(&no_mask);
    names_free(&no_image);
    return rc;
}

/* ---- dataset ----------------------------------------------------------- */

void nr_dataset_free(nr_dataset *ds)
{
    if (!ds)
        return;
    for (int i = 0; i < ds->n; i++) {
        free(ds->name[i]);
        free(ds->image[i]);
        if (ds->mask)
            free(ds->mask[i]);
    }
    free(ds->name);
    free(ds->image);
    free(ds->mask);
    free(ds);
}

/* A dataset of names with images in img_dir (or the single file `single`)
 * and masks in mask_dir (or none). */
static nr_dataset *dataset_make(const name_list *names, const char *img_dir,
                                const char *single, const char *mask_dir)
{
    nr_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    size_t n = (size_t)names->n;
    ds->name = calloc(n, sizeof *ds->name);
    ds->image = calloc(n, sizeof *ds->image);
    ds->mask = mask_dir ? calloc(n, sizeof *ds->mask) : NULL;
    if (!ds->name || !ds->image || (mask_dir && !ds->mask)) {
        nr_dataset_free(ds);
        return NULL;
    }
    for (int i = 0; i < names->n; i++) {
        ds->n = i + 1; /* so that free sees what was filled */
        ds->name[i] = strdup(names->v[i]);
        ds->image[i] = single ? strdup(single) : path_join(img_dir, names->v[i]);
        if (mask_dir)
            ds->mask[i] = path_join(mask_dir, names->v[i]);
        if (!ds->name[i] || !ds->image[i] || (mask_dir && !ds->mask[i])) {
            nr_dataset_free(ds);
            return NULL;
        }
    }
    return ds;
}

nr_dataset *nr_dataset_open(const char *dir, int need_masks, char *err,
                            size_t errlen)
{
    struct stat st;
    if (!dir || stat(dir, &st) != 0) {
        ng_fail(err, errlen, "%s: %s", dir ? dir : "(null)", strerror(errno));
        return NULL;
    }
    name_list img = {0}, msk = {0};
    nr_dataset *ds = NULL;
    char *img_dir = path_join(dir, "images");
    char *mask_dir = path_join(dir, "masks");
    const char *single = NULL;
    if (!img_dir || !mask_dir) {
        ng_fail(err, errlen, "%s: out of memory", dir);
        goto done;
    }
    if (is_dir(img_dir)) {
        if (list_pngs(img_dir, &img, err, errlen) < 0)
            goto done;
        if (img.n == 0) {
            ng_fail(err, errlen, "%s: no PNG files", img_dir);
            goto done;
        }
        if (need_masks) {
            if (!is_dir(mask_dir)) {
                ng_fail(err, errlen,
                        "%s: no such folder (the labels must be there, one "
                        "mask per image, same file name)", mask_dir);
                goto done;
            }
            if (list_pngs(mask_dir, &msk, err, errlen) < 0 ||
                match_masks(dir, &img, &msk, err, errlen) < 0)
                goto done;
        }
    } else if (need_masks) {
        ng_fail(err, errlen,
                "%s: no images folder (expected %s/images/*.png and "
                "%s/masks/*.png)", dir, dir, dir);
        goto done;
    } else if (S_ISDIR(st.st_mode)) {
        free(img_dir);
        if (!(img_dir = strdup(dir)) || list_pngs(dir, &img, err, errlen) < 0) {
            if (!img_dir)
                ng_fail(err, errlen, "%s: out of memory", dir);
            goto done;
        }
        if (img.n == 0) {
            ng_fail(err, errlen, "%s: no PNG files (and no images folder)", dir);
            goto done;
        }
    } else if (S_ISREG(st.st_mode) && strlen(dir) > 4 &&
               strcasecmp(dir + strlen(dir) - 4, ".png") == 0) {
        const char *base = strrchr(dir, '/');
        single = dir;
        if (names_push(&img, base ? base + 1 : dir) < 0) {
            ng_fail(err, errlen, "%s: out of memory", dir);
            goto done;
        }
    } else {
        ng_fail(err, errlen, "%s: not a folder or a PNG file", dir);
        goto done;
    }
    ds = dataset_make(&img, img_dir, single, need_masks ? mask_dir : NULL);
    if (!ds)
        ng_fail(err, errlen, "%s: out of memory", dir);
done:
    names_free(&img);
    names_free(&msk);
    free(img_dir);
    free(mask_dir);
    return ds;
}

int nr_dataset_count(const nr_dataset *ds)
{
    return ds ? ds->n : 0;
}

const char *nr_dataset_name(const nr_dataset *ds, int i)
{
    return ds && i >= 0 && i < ds->n ? ds->name[i] : NULL;
}

const char *nr_dataset_image_path(const nr_dataset *ds, int i)
{
    return ds && i >= 0 && i < ds->n ? ds->image[i] : NULL;
}

const char *nr_dataset_mask_path(const nr_dataset *ds, int i)
{
    return ds && ds->mask && i >= 0 && i < ds->n ? ds->mask[i] : NULL;
}

int nr_dataset_load(const nr_dataset *ds, int i, int c, int h, int w,
                    int classes, int ignore, float *image, int32_t *mask,
                    char *err, size_t errlen)
{
    if (i < 0 || i >= ds->n) {
        ng_fail(err, errlen, "sample %d out of range (%d samples)", i, ds->n);
        return -1;
    }
    if (mask && !ds->mask) {
        ng_fail(err, errlen, "%s: no mask (dataset opened without masks)",
                ds->image[i]);
        return -1;
    }
    if (nr_png_read_image(ds->image[i], c, h, w, image, err, errlen) < 0)
        return -1;
    if (mask && nr_png_read_mask(ds->mask[i], h, w, classes, ignore, mask, err,
                                 errlen) < 0)
        return -1;
    return 0;
}

int nr_dataset_class_counts(const nr_dataset *ds, int h, int w, int classes,
                            int ignore, int64_t *counts, char *err,
                            size_t errlen)
{
    if (!ds->mask) {
        ng_fail(err, errlen, "%s: no masks to count classes in",
                ds->n ? ds->image[0] : "dataset");
        return -1;
    }
    if (h <= 0 || w <= 0 || classes <= 0) {
        ng_fail(err, errlen, "class counts: bad size %dx%d or %d classes", w,
                h, classes);
        return -1;
    }
    size_t hw = (size_t)h * (size_t)w;
    int32_t *m = malloc(sizeof *m * hw);
    if (!m) {
        ng_fail(err, errlen, "class counts: out of memory");
        return -1;
    }
    memset(counts, 0, sizeof *counts * (size_t)classes);
    for (int i = 0; i < ds->n; i++) {
        if (nr_png_read_mask(ds->mask[i], h, w, classes, ignore, m, err,
                             errlen) < 0) {
            free(m);
            return -1;
        }
        for (size_t p = 0; p < hw; p++)
            if (m[p] != ignore)
                counts[m[p]]++;
    }
    free(m);
    return 0;
}

/* ---- batcher ----------------------------------------------------------- */

typedef struct {
    float *image;   /* (batch,C,H,W) */
    int32_t *mask;  /* (batch,H,W) or NULL */
    int *idx;       /* (batch) sample numbers to load */
    int n;          /* real samples in this batch */
    int augment;    /* augmentation on for this batch */
    uint64_t seed;  /* augmentation seed */
    uint64_t pos0;  /* stream position of idx[0] */
    int rc;         /* 0, or -1 with err */
    char err[512];
} batch_slot;

struct nr_batcher {
    const nr_dataset *ds;
    int batch, c, h, w, classes, ignore, with_masks;
    size_t img_elems;  /* C*H*W per sample */
    size_t mask_elems; /* H*W per sample */
    batch_slot slot[2];
    float *tmp_image;  /* (C,H,W) worker scratch for augmentation */
    int32_t *tmp_mask; /* (H,W) worker scratch */
    /* main thread only */
    int augment;
    uint64_t seed, stream_pos;
    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t submitted, loaded, waited; /* batch counts */
    int stop;
    int started; /* thread created */
    pthread_t thread;
};

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int should_stop(nr_batcher *b)
{
    pthread_mutex_lock(&b->mu);
    int s = b->stop;
    pthread_mutex_unlock(&b->mu);
    return s;
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

/* Fill slot s.  Returns 1 when asked to stop midway, else 0 (s->rc says how
 * the loading went). */
static int load_slot(nr_batcher *b, batch_slot *s)
{
    s->rc = 0;
    s->err[0] = '\0';
    int j;
    for (j = 0; j < s->n; j++) {
        if (should_stop(b))
            return 1;
        float *img = s->image + (size_t)j * b->img_elems;
        int32_t *msk = s->mask ? s->mask + (size_t)j * b->mask_elems : NULL;
        int fh = 0, fv = 0, tr = 0;
        if (s->augment) {
            uint64_t r = splitmix64(s->seed ^ splitmix64(s->pos0 + (uint64_t)j));
            fh = (int)(r & 1), fv = (int)(r >> 1 & 1);
            tr = b->h == b->w && (r >> 2 & 1);
        }
        int direct = !(fh || fv || tr);
        if (nr_dataset_load(b->ds, s->idx[j], b->c, b->h, b->w, b->classes,
                            b->ignore, direct ? img : b->tmp_image,
                            msk ? (direct ? msk : b->tmp_mask) : NULL, s->err,
                            sizeof s->err) < 0) {
            s->rc = -1;
            return 0;
        }
        if (!direct)
            augment_sample(b, fh, fv, tr, b->tmp_image, b->tmp_mask, img, msk);
    }
    for (; j < b->batch; j++) {
        memset(s->image + (size_t)j * b->img_elems, 0,
               sizeof *s->image * b->img_elems);
        if (s->mask)
            for (size_t p = 0; p < b->mask_elems; p++)
                s->mask[(size_t)j * b->mask_elems + p] = b->ignore;
    }
    return 0;
}

static void *batcher_main(void *arg)
{
    nr_batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->stop && b->loaded == b->submitted)
            pthread_cond_wait(&b->cv, &b->mu);
        if (b->stop)
            break;
        batch_slot *s = &b->slot[b->loaded % 2];
        pthread_mutex_unlock(&b->mu);
        int stopped = load_slot(b, s);
        pthread_mutex_lock(&b->mu);
        if (stopped)
            break;
        b->loaded++;
        pthread_cond_broadcast(&b->cv);
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
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->thread, NULL);
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
    }
    for (int k = 0; k < 2; k++) {
        free(b->slot[k].image);
        free(b->slot[k].mask);
        free(b->slot[k].idx);
    }
    free(b->tmp_image);
    free(b->tmp_mask);
    free(b);
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
    if (with_masks && !ds->mask) {
        ng_fail(err, errlen, "%s: no masks (dataset opened without masks)",
                ds->n ? ds->image[0] : "dataset");
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
    int oom = 0;
    for (int k = 0; k < 2; k++) {
        batch_slot *s = &b->slot[k];
        s->image = malloc(sizeof *s->image * b->img_elems * (size_t)batch);
        s->idx = malloc(sizeof *s->idx * (size_t)batch);
        if (with_masks)
            s->mask = malloc(sizeof *s->mask * hw * (size_t)batch);
        oom |= !s->image || !s->idx || (with_masks && !s->mask);
    }
    b->tmp_image = malloc(sizeof *b->tmp_image * b->img_elems);
    b->tmp_mask = malloc(sizeof *b->tmp_mask * hw);
    if (oom || !b->tmp_image || !b->tmp_mask) {
        ng_fail(err, errlen, "batcher: out of memory");
        nr_batcher_free(b);
        return NULL;
    }
    if (pthread_mutex_init(&b->mu, NULL) != 0) {
        ng_fail(err, errlen, "batcher: cannot create a mutex");
        nr_batcher_free(b);
        return NULL;
    }
    if (pthread_cond_init(&b->cv, NULL) != 0) {
        pthread_mutex_destroy(&b->mu);
        ng_fail(err, errlen, "batcher: cannot create a condition variable");
        nr_batcher_free(b);
        return NULL;
    }
    int e = pthread_create(&b->thread, NULL, batcher_main, b);
    if (e != 0) {
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
        ng_fail(err, errlen, "batcher: cannot start the loader thread: %s",
                strerror(e));
        nr_batcher_free(b);
        return NULL;
    }
    b->started = 1;
    return b;
}

void nr_batcher_set_augment(nr_batcher *b, uint64_t seed, uint64_t pos)
{
    b->augment = 1;
    b->seed = seed;
    b->stream_pos = pos;
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
    /* Slot submitted % 2 last held batch submitted - 2, already waited for,
     * so the worker is not touching it. */
    batch_slot *s = &b->slot[b->submitted % 2];
    if (n > 0)
        memcpy(s->idx, idx, sizeof *idx * (size_t)n);
    s->n = n;
    s->augment = b->augment;
    s->seed = b->seed;
    s->pos0 = b->stream_pos;
    b->stream_pos += (uint64_t)n;
    b->submitted++;
    pthread_cond_broadcast(&b->cv);
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
    while (b->loaded <= b->waited)
        pthread_cond_wait(&b->cv, &b->mu);
    batch_slot *s = &b->slot[b->waited % 2];
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
