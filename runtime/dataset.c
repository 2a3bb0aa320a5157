/* dataset.c — nr_dataset_* (a sorted listing of image/mask PNG pairs) and
 * nr_batcher_* (double-buffered loading on one background pthread).
 * The batcher hands batch k out of slot k % 2; the worker fills slots in
 * submission order and the main thread never touches a slot being filled. */
#define _POSIX_C_SOURCE 200809L
#include "dataset.h"
#include "util.h"
#include "png.h"
#include "image.h"
#include "layout.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* The image file names (.png, .jpg, .jpeg) in dir, sorted.  0 or -1 with
 * err. */
static int list_images(const char *dir, name_list *out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        ng_fail(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!nr_image_name_ok(e->d_name))
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

/* Length of name without its extension (the stem). */
static size_t stem_len(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name ? (size_t)(dot - name) : strlen(name);
}

static int cmp_stems(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t lx = stem_len(x), ly = stem_len(y);
    int c = memcmp(x, y, lx < ly ? lx : ly);
    return c ? c : lx < ly ? -1 : lx > ly;
}

/* Two files of l (sorted by stem in v) with one stem: an error naming them. */
static int same_stems(const char *dir, const char *sub, char **v, int n, char *err, size_t errlen)
{
    for (int i = 1; i < n; i++)
        if (cmp_stems(&v[i - 1], &v[i]) == 0)
            return ng_fail(err, errlen, "%s/%s: %s and %s have the same name but for the extension; which one "
                           "is meant?", dir, sub, v[i - 1], v[i]);
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

/* Pair images with masks by stem (a.jpg with a.png): mask_of[i] is the mask
 * name of image i.  On a mismatch, err names what is missing on either side
 * (a missing mask as STEM.png). */
static int match_masks(const char *dir, const name_list *img, const name_list *msk, char **mask_of,
                       char *err, size_t errlen)
{
    name_list no_mask = {0}, no_image = {0};
    int n_img = img->n, n_msk = msk->n, oom = 0;
    char **is = malloc(sizeof *is * (size_t)(n_img ? n_img : 1));
    char **ms = malloc(sizeof *ms * (size_t)(n_msk ? n_msk : 1));
    char *used = calloc((size_t)(n_msk ? n_msk : 1), 1);
    int rc = -1;
    if (!is || !ms || !used) {
        ng_fail(err, errlen, "%s: out of memory", dir);
        goto done;
    }
    if (n_img)
        memcpy(is, img->v, sizeof *is * (size_t)n_img);
    if (n_msk) /* an empty list's v is NULL */
        memcpy(ms, msk->v, sizeof *ms * (size_t)n_msk);
    qsort(is, (size_t)n_img, sizeof *is, cmp_stems);
    qsort(ms, (size_t)n_msk, sizeof *ms, cmp_stems);
    if (same_stems(dir, "images", is, n_img, err, errlen) || same_stems(dir, "masks", ms, n_msk, err, errlen))
        goto done;
    for (int i = 0; i < n_img; i++) {
        char **hit = bsearch(&img->v[i], ms, (size_t)n_msk, sizeof *ms, cmp_stems);
        if (hit) {
            mask_of[i] = *hit;
            used[hit - ms] = 1;
        } else {
            char want[1024];
            snprintf(want, sizeof want, "%.*s.png", (int)stem_len(img->v[i]), img->v[i]);
            oom |= names_push(&no_mask, want);
        }
    }
    for (int j = 0; j < n_msk; j++)
        if (!used[j])
            oom |= names_push(&no_image, ms[j]);
    if (no_image.n > 1)
        qsort(no_image.v, (size_t)no_image.n, sizeof *no_image.v, cmp_names);
    rc = (no_mask.n || no_image.n || oom) ? -1 : 0;
    if (oom) {
        ng_fail(err, errlen, "%s: out of memory", dir);
    } else if (rc) {
        ng_fail(err, errlen, "%s", "");
        if (no_mask.n == 1) {
            const char *iname = NULL;
            for (int i = 0; i < n_img && !iname; i++)
                if (!mask_of[i])
                    iname = img->v[i];
            add_err(err, errlen, "%s/masks/%s: missing (the mask of images/%s)", dir, no_mask.v[0], iname);
        } else if (no_mask.n > 1) {
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
done:
    free(is);
    free(ms);
    free(used);
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

nr_dataset *nr_dataset_from_paths(int n, char *const *names, char *const *images, char *const *masks)
{
    nr_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    size_t cnt = (size_t)(n > 0 ? n : 1);
    ds->name = calloc(cnt, sizeof *ds->name);
    ds->image = calloc(cnt, sizeof *ds->image);
    ds->mask = masks ? calloc(cnt, sizeof *ds->mask) : NULL;
    if (!ds->name || !ds->image || (masks && !ds->mask)) {
        nr_dataset_free(ds);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        ds->n = i + 1; /* so that free sees what was filled */
        ds->name[i] = strdup(names[i]);
        ds->image[i] = strdup(images[i]);
        if (masks)
            ds->mask[i] = strdup(masks[i]);
        if (!ds->name[i] || !ds->image[i] || (masks && !ds->mask[i])) {
            nr_dataset_free(ds);
            return NULL;
        }
    }
    return ds;
}

/* A dataset of names with images in img_dir (or the single file `single`)
 * and masks mask_of[i] in mask_dir (or none). */
static nr_dataset *dataset_make(const name_list *names, const char *img_dir,
                                const char *single, const char *mask_dir, char **mask_of)
{
    int n = names->n;
    char **ip = calloc((size_t)(n ? n : 1), sizeof *ip);
    char **mp = mask_dir ? calloc((size_t)(n ? n : 1), sizeof *mp) : NULL;
    nr_dataset *ds = NULL;
    int oom = !ip || (mask_dir && !mp);
    for (int i = 0; i < n && !oom; i++) {
        ip[i] = single ? strdup(single) : path_join(img_dir, names->v[i]);
        if (mask_dir)
            mp[i] = path_join(mask_dir, mask_of[i]);
        oom = !ip[i] || (mask_dir && !mp[i]);
    }
    if (!oom)
        ds = nr_dataset_from_paths(n, names->v, ip, mp);
    for (int i = 0; i < n; i++) {
        if (ip)
            free(ip[i]);
        if (mp)
            free(mp[i]);
    }
    free(ip);
    free(mp);
    return ds;
}

nr_dataset *nr_dataset_open(const char *dir, int need_masks, char *err,
                            size_t errlen)
{
    return nr_dataset_open_split(dir, NULL, need_masks, err, errlen);
}

nr_dataset *nr_dataset_open_split(const char *dir, const char *split, int need_masks, char *err, size_t errlen)
{
    struct stat st;
    if (!dir || stat(dir, &st) != 0) {
        ng_fail(err, errlen, "%s: %s", dir ? dir : "(null)", strerror(errno));
        return NULL;
    }
    if (nr_layout_is_voc(dir))
        return nr_layout_open_voc(dir, split ? split : "train", need_masks, err, errlen);
    if (S_ISREG(st.st_mode) && nr_layout_is_list(dir))
        return nr_layout_open_list(dir, need_masks, err, errlen);
    if (split) {
        ng_fail(err, errlen, "%s: --split %s: not a VOC folder (JPEGImages, SegmentationClass and "
                "ImageSets/Segmentation/%s.txt); for another layout, give a list file", dir, split, split);
        return NULL;
    }
    name_list img = {0}, msk = {0};
    nr_dataset *ds = NULL;
    char **mask_of = NULL;
    char *img_dir = path_join(dir, "images");
    char *mask_dir = path_join(dir, "masks");
    const char *single = NULL;
    if (!img_dir || !mask_dir) {
        ng_fail(err, errlen, "%s: out of memory", dir);
        goto done;
    }
    if (is_dir(img_dir)) {
        if (list_images(img_dir, &img, err, errlen) < 0)
            goto done;
        if (img.n == 0) {
            ng_fail(err, errlen, "%s: no PNG or JPEG files", img_dir);
            goto done;
        }
        if (need_masks) {
            if (!is_dir(mask_dir)) {
                ng_fail(err, errlen,
                        "%s: no such folder (the labels must be there, one "
                        "PNG mask per image, same name but for the extension)", mask_dir);
                goto done;
            }
            if (!(mask_of = calloc((size_t)img.n, sizeof *mask_of))) {
                ng_fail(err, errlen, "%s: out of memory", dir);
                goto done;
            }
            if (list_images(mask_dir, &msk, err, errlen) < 0 ||
                match_masks(dir, &img, &msk, mask_of, err, errlen) < 0)
                goto done;
        }
    } else if (need_masks) {
        ng_fail(err, errlen,
                "%s: no images folder (expected %s/images/*.png|jpg and "
                "%s/masks/*.png, the VOC layout or a list file)", dir, dir, dir);
        goto done;
    } else if (S_ISDIR(st.st_mode)) {
        free(img_dir);
        if (!(img_dir = strdup(dir)) || list_images(dir, &img, err, errlen) < 0) {
            if (!img_dir)
                ng_fail(err, errlen, "%s: out of memory", dir);
            goto done;
        }
        if (img.n == 0) {
            ng_fail(err, errlen, "%s: no PNG or JPEG files (and no images folder)", dir);
            goto done;
        }
    } else if (S_ISREG(st.st_mode) && nr_image_name_ok(strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir)) {
        const char *base = strrchr(dir, '/');
        single = dir;
        if (names_push(&img, base ? base + 1 : dir) < 0) {
            ng_fail(err, errlen, "%s: out of memory", dir);
            goto done;
        }
    } else {
        ng_fail(err, errlen, "%s: not a folder, an image (.png, .jpg) or a list file (.txt)", dir);
        goto done;
    }
    ds = dataset_make(&img, img_dir, single, need_masks ? mask_dir : NULL, mask_of);
    if (!ds)
        ng_fail(err, errlen, "%s: out of memory", dir);
done:
    names_free(&img);
    names_free(&msk);
    free(mask_of);
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

int nr_dataset_load_any(const nr_dataset *ds, int i, int c, int classes, int ignore, float **image,
                        int32_t **mask, int *h, int *w, char *err, size_t errlen)
{
    *image = NULL;
    if (mask)
        *mask = NULL;
    if (i < 0 || i >= ds->n)
        return ng_fail(err, errlen, "sample %d out of range (%d samples)", i, ds->n);
    if (mask && !ds->mask)
        return ng_fail(err, errlen, "%s: no mask (dataset opened without masks)", ds->image[i]);
    if (nr_image_load(ds->image[i], c, h, w, image, err, errlen) < 0)
        return -1;
    if (!mask)
        return 0;
    int mh, mw;
    if (nr_mask_load(ds->mask[i], classes, ignore, &mh, &mw, mask, err, errlen) < 0) {
        free(*image);
        *image = NULL;
        return -1;
    }
    if (mh != *h || mw != *w) {
        ng_fail(err, errlen, "%s: %dx%d, but its image %s is %dx%d", ds->mask[i], mw, mh, ds->image[i], *w, *h);
        free(*image);
        free(*mask);
        *image = NULL, *mask = NULL;
        return -1;
    }
    return 0;
}

int nr_dataset_load(const nr_dataset *ds, int i, int c, int h, int w,
                    int classes, int ignore, float *image, int32_t *mask,
                    char *err, size_t errlen)
{
    float *im;
    int32_t *m = NULL;
    int ih, iw;
    if (nr_dataset_load_any(ds, i, c, classes, ignore, &im, mask ? &m : NULL, &ih, &iw, err, errlen) < 0)
        return -1;
    int rc = 0;
    if (ih != h || iw != w)
        rc = ng_fail(err, errlen, "%s: %dx%d, the model expects %dx%d", ds->image[i], iw, ih, w, h);
    else {
        memcpy(image, im, sizeof *im * (size_t)c * (size_t)h * (size_t)w);
        if (mask)
            memcpy(mask, m, sizeof *m * (size_t)h * (size_t)w);
    }
    free(im);
    free(m);
    return rc;
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
    if (h < 0 || w < 0 || (h == 0) != (w == 0) || classes <= 0) {
        ng_fail(err, errlen, "class counts: bad size %dx%d or %d classes", w,
                h, classes);
        return -1;
    }
    memset(counts, 0, sizeof *counts * (size_t)classes);
    for (int i = 0; i < ds->n; i++) {
        int32_t *m;
        int mh, mw;
        if (nr_mask_load(ds->mask[i], classes, ignore, &mh, &mw, &m, err, errlen) < 0)
            return -1;
        if (h > 0 && (mh != h || mw != w)) {
            free(m);
            return ng_fail(err, errlen, "%s: %dx%d, the model expects %dx%d", ds->mask[i], mw, mh, w, h);
        }
        size_t hw = (size_t)mh * (size_t)mw;
        for (size_t p = 0; p < hw; p++)
            if (m[p] != ignore)
                counts[m[p]]++;
        free(m);
    }
    return 0;
}

/* ---- batcher ----------------------------------------------------------- */

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
    float **tmp_image; /* per worker (C,H,W) scratch for augmentation */
    int32_t **tmp_mask; /* per worker (H,W) scratch */
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
    int started; /* threads created */
    pthread_t *threads;
};

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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
        uint64_t r = splitmix64(s->seed ^ splitmix64(pos));
        fh = (int)(r & 1), fv = (int)(r >> 1 & 1);
        tr = b->h == b->w && (r >> 2 & 1);
    }
    int direct = !(fh || fv || tr);
    float *di = direct ? out_img : b->tmp_image[wid];
    int32_t *dm = out_mask ? (direct ? out_mask : b->tmp_mask[wid]) : NULL;
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
            uint64_t draw = splitmix64(s->seed ^ 0x63726f70ULL ^ splitmix64(pos ^ 0x5bd1e995ULL));
            crop_origin(b, s, sample, j, draw, ih, iw, &y0, &x0);
        }
        nr_window_f32(im, b->c, ih, iw, y0, x0, di, b->h, b->w, 0.0f);
        if (dm)
            nr_window_i32(m, ih, iw, y0, x0, dm, b->h, b->w, b->ignore);
    }
    free(im);
    free(m);
    if (!direct)
        augment_sample(b, fh, fv, tr, b->tmp_image[wid], b->tmp_mask[wid], out_img, out_mask);
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
    if (b->threads) {
        pthread_cond_destroy(&b->cv_work);
        pthread_cond_destroy(&b->cv_done);
        pthread_mutex_destroy(&b->mu);
    }
    for (int k = 0; k < 2; k++) {
        free(b->slot[k].image);
        free(b->slot[k].mask);
        free(b->slot[k].idx);
    }
    for (int t = 0; t < b->n_threads; t++) {
        if (b->tmp_image)
            free(b->tmp_image[t]);
        if (b->tmp_mask)
            free(b->tmp_mask[t]);
    }
    free(b->tmp_image);
    free(b->tmp_mask);
    free(b->threads);
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
    b->policy = NR_SIZE_CROP;
    for (int k = 0; k < 3; k++)
        b->mean[k] = 0, b->std[k] = 1;
    b->n_threads = loader_threads();
    int oom = 0;
    for (int k = 0; k < 2; k++) {
        batch_slot *s = &b->slot[k];
        s->image = malloc(sizeof *s->image * b->img_elems * (size_t)batch);
        s->idx = malloc(sizeof *s->idx * (size_t)batch);
        if (with_masks)
            s->mask = malloc(sizeof *s->mask * hw * (size_t)batch);
        oom |= !s->image || !s->idx || (with_masks && !s->mask);
    }
    b->tmp_image = calloc((size_t)b->n_threads, sizeof *b->tmp_image);
    b->tmp_mask = calloc((size_t)b->n_threads, sizeof *b->tmp_mask);
    b->threads = calloc((size_t)b->n_threads, sizeof *b->threads);
    oom |= !b->tmp_image || !b->tmp_mask || !b->threads;
    for (int t = 0; !oom && t < b->n_threads; t++) {
        b->tmp_image[t] = malloc(sizeof **b->tmp_image * b->img_elems);
        b->tmp_mask[t] = malloc(sizeof **b->tmp_mask * hw);
        oom |= !b->tmp_image[t] || !b->tmp_mask[t];
    }
    if (oom) {
        ng_fail(err, errlen, "batcher: out of memory");
        free(b->threads);
        b->threads = NULL;
        nr_batcher_free(b);
        return NULL;
    }
    if (pthread_mutex_init(&b->mu, NULL) != 0 || pthread_cond_init(&b->cv_work, NULL) != 0 ||
        pthread_cond_init(&b->cv_done, NULL) != 0) {
        /* (the three are not destroyed: on Linux they hold no resources) */
        ng_fail(err, errlen, "batcher: cannot create a mutex or condition variable");
        free(b->threads);
        b->threads = NULL;
        nr_batcher_free(b);
        return NULL;
    }
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
        double t0 = now_s();
        while (s->done < s->n)
            pthread_cond_wait(&b->cv_done, &b->mu);
        b->wait_s += now_s() - t0;
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
