/* dataset.c — nr_dataset_*: a dataset as numbered samples, built by the
 * layouts (layout.c), and the loading of one sample. */
#define _POSIX_C_SOURCE 200809L
#include "dataset.h"
#include "util.h"
#include "image.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;  /* file name */
    char *image; /* image path */
    char *mask;  /* mask path when with_masks, else NULL */
} sample;

struct nr_dataset {
    int n, with_masks;
    sample *s;   /* (n) */
    size_t cap;
};

static void sample_free(sample *x)
{
    free(x->name);
    free(x->image);
    free(x->mask);
}

void nr_dataset_free(nr_dataset *ds)
{
    if (!ds)
        return;
    for (int i = 0; i < ds->n; i++)
        sample_free(&ds->s[i]);
    free(ds->s);
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
    sample *v = ng_vec_grow(ds->s, &ds->cap, (size_t)ds->n + 1, sizeof *v);
    if (!v)
        return -1;
    ds->s = v;
    sample x = {strdup(name), strdup(image), ds->with_masks ? strdup(mask) : NULL};
    if (!x.name || !x.image || (ds->with_masks && !x.mask)) {
        sample_free(&x);
        return -1;
    }
    v[ds->n++] = x;
    return 0;
}

int nr_dataset_has_masks(const nr_dataset *ds) { return ds->with_masks; }

int nr_dataset_count(const nr_dataset *ds)
{
    return ds ? ds->n : 0;
}

const char *nr_dataset_name(const nr_dataset *ds, int i)
{
    return ds && i >= 0 && i < ds->n ? ds->s[i].name : NULL;
}

const char *nr_dataset_image_path(const nr_dataset *ds, int i)
{
    return ds && i >= 0 && i < ds->n ? ds->s[i].image : NULL;
}

const char *nr_dataset_mask_path(const nr_dataset *ds, int i)
{
    return ds && ds->with_masks && i >= 0 && i < ds->n ? ds->s[i].mask : NULL;
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
        return ng_fail(err, errlen, "%s: no mask (dataset opened without masks)", ds->s[i].image);
    if (nr_image_load(ds->s[i].image, c, h, w, image, err, errlen) < 0)
        return -1;
    if (!mask)
        return 0;
    int mh, mw;
    if (nr_mask_load(ds->s[i].mask, classes, ignore, &mh, &mw, mask, err, errlen) < 0) {
        free(*image);
        *image = NULL;
        return -1;
    }
    if (mh != *h || mw != *w) {
        ng_fail(err, errlen, "%s: %dx%d, but its image %s is %dx%d", ds->s[i].mask, mw, mh, ds->s[i].image, *w, *h);
        free(*image);
        free(*mask);
        *image = NULL, *mask = NULL;
        return -1;
    }
    return 0;
}

int nr_dataset_check_sizes(const nr_dataset *ds, char *err, size_t errlen)
{
    for (int i = 0; ds->with_masks && i < ds->n; i++) {
        int ih, iw, mh, mw;
        if (nr_image_size(ds->s[i].image, &ih, &iw, err, errlen) != 0 ||
            nr_image_size(ds->s[i].mask, &mh, &mw, err, errlen) != 0)
            return -1;
        if (mh != ih || mw != iw)
            return ng_fail(err, errlen, "%s: %dx%d, but its image %s is %dx%d", ds->s[i].mask, mw, mh, ds->s[i].image,
                           iw, ih);
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
        rc = ng_fail(err, errlen, "%s: %dx%d, the model expects %dx%d", ds->s[i].image, iw, ih, w, h);
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
                ds->n ? ds->s[0].image : "dataset");
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
        if (nr_mask_load(ds->s[i].mask, classes, ignore, &mh, &mw, &m, err, errlen) < 0)
            return -1;
        if (h > 0 && (mh != h || mw != w)) {
            free(m);
            return ng_fail(err, errlen, "%s: %dx%d, the model expects %dx%d", ds->s[i].mask, mw, mh, w, h);
        }
        size_t hw = (size_t)mh * (size_t)mw;
        for (size_t p = 0; p < hw; p++)
            if (m[p] != ignore)
                counts[m[p]]++;
        free(m);
    }
    return 0;
}
