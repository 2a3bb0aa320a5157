/* dataset.c — nr_dataset_* (layout.c opens one): a sorted listing of
 * image/mask pairs, the folder layout DIR/images + DIR/masks, and the
 * loading of one sample. */
#define _POSIX_C_SOURCE 200809L
#include "dataset.h"
#include "util.h"
#include "png.h"
#include "image.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct nr_dataset {
    int n, with_masks;
    char **name;  /* (n) file names */
    char **image; /* (n) image paths */
    char **mask;  /* (n) mask paths when with_masks */
    size_t cap[3]; /* of name, image, mask */
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

/* ---- listing ----------------------------------------------------------- */

typedef struct {
    char **v;
    int n;
    size_t cap;
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
    char **v = ng_vec_grow(l->v, &l->cap, (size_t)l->n + 1, sizeof *v);
    if (!v)
        return -1;
    l->v = v;
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
        int regular = ng_is_file(p);
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

static int cmp_stems(const void *a, const void *b)
{
    return ng_stem_cmp(*(char *const *)a, *(char *const *)b);
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
            snprintf(want, sizeof want, "%.*s.png", (int)ng_stem_len(img->v[i]), img->v[i]);
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
        if (ds->with_masks)
            free(ds->mask[i]);
    }
    free(ds->name);
    free(ds->image);
    free(ds->mask);
    free(ds);
}

nr_dataset *nr_dataset_new(int with_masks)
{
    nr_dataset *ds = calloc(1, sizeof *ds);
    if (ds)
        ds->with_masks = with_masks;
    return ds;
}

int nr_dataset_add(nr_dataset *ds, const char *name, const char *image, const char *mask)
{
    char ***v[3] = {&ds->name, &ds->image, &ds->mask};
    const char *src[3] = {name, image, mask};
    int k_n = ds->with_masks ? 3 : 2;
    for (int k = 0; k < k_n; k++) {
        char **g = ng_vec_grow(*v[k], &ds->cap[k], (size_t)ds->n + 1, sizeof *g);
        if (!g)
            return -1;
        *v[k] = g;
    }
    for (int k = 0; k < k_n; k++)
        if (!((*v[k])[ds->n] = strdup(src[k]))) {
            while (k--)
                free((*v[k])[ds->n]);
            return -1;
        }
    ds->n++;
    return 0;
}

/* A dataset of names with images in img_dir (or the single file `single`)
 * and masks mask_of[i] in mask_dir (or none); NULL when out of memory. */
static nr_dataset *dataset_make(const name_list *names, const char *img_dir,
                                const char *single, const char *mask_dir, char **mask_of)
{
    nr_dataset *ds = nr_dataset_new(mask_dir != NULL);
    for (int i = 0; ds && i < names->n; i++) {
        char *ip = single ? NULL : path_join(img_dir, names->v[i]);
        char *mp = mask_dir ? path_join(mask_dir, mask_of[i]) : NULL;
        if ((!single && !ip) || (mask_dir && !mp) || nr_dataset_add(ds, names->v[i], single ? single : ip, mp) != 0) {
            nr_dataset_free(ds);
            ds = NULL;
        }
        free(ip);
        free(mp);
    }
    return ds;
}

nr_dataset *nr_dataset_open_folder(const char *dir, int need_masks, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        ng_fail(err, errlen, "%s: %s", dir, strerror(errno));
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
    if (ng_is_dir(img_dir)) {
        if (list_images(img_dir, &img, err, errlen) < 0)
            goto done;
        if (img.n == 0) {
            ng_fail(err, errlen, "%s: no PNG or JPEG files", img_dir);
            goto done;
        }
        if (need_masks) {
            if (!ng_is_dir(mask_dir)) {
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

int nr_dataset_has_masks(const nr_dataset *ds) { return ds->with_masks; }

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
    return ds && ds->with_masks && i >= 0 && i < ds->n ? ds->mask[i] : NULL;
}

int nr_dataset_load_any(const nr_dataset *ds, int i, int c, int classes, int ignore, float **image,
                        int32_t **mask, int *h, int *w, char *err, size_t errlen)
{
    *image = NULL;
    if (mask)
        *mask = NULL;
    if (i < 0 || i >= ds->n)
        return ng_fail(err, errlen, "sample %d out of range (%d samples)", i, ds->n);
    if (mask && !ds->with_masks)
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
    if (!ds->with_masks) {
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
