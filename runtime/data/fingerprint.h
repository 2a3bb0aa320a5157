/* fingerprint.h — a dataset's fingerprint for netrun plan (nnU-Net's
 * "dataset fingerprint"): image sizes and colour, intensity statistics,
 * class pixel shares, images and objects per class (8-connected components)
 * and their sizes.  Every image and mask is read once, on the thread pool. */
#ifndef NR_FINGERPRINT_H
#define NR_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

/* Intensities in [0, 1] (v/255 or v/65535; luma 0.299R + 0.587G + 0.114B of a
 * colour image, what a 1-channel model reads), over a set of pixels. */
typedef struct {
    int64_t n;            /* pixels */
    double mean, std;
    double p005, p995;    /* percentiles 0.5 and 99.5 (nnU-Net's clipping range) */
} nr_fp_intensity;

typedef struct {
    int64_t pixels;       /* labelled pixels of the class, all masks */
    int images;           /* masks that hold it */
    int64_t objects;      /* 8-connected components of it, all masks */
    int64_t obj_min, obj_median, obj_max; /* their sizes in pixels (0 when none) */
} nr_fp_class;

typedef struct {
    int images;
    int gray, colour;          /* images whose three planes are equal, and the others */
    int h_min, h_median, h_max, w_min, w_median, w_max;
    int classes;               /* largest label + 1 (255 = ignore is no label) */
    int64_t labelled;          /* pixels with a label (not ignore) */
    int64_t ignored;           /* pixels = 255 */
    double background_share;   /* class 0's share of the labelled pixels */
    nr_fp_intensity all, fg;   /* every pixel; the pixels of classes 1.. */
    nr_fp_class *cls;          /* (classes) */
    int64_t class_locs;        /* positions the class index keeps (class_index.h's rule), for its memory */
    int64_t max_pixels;        /* the largest image's h * w */
    double seconds;            /* wall time of nr_fingerprint_compute */
} nr_fingerprint;

/* The fingerprint of ds (opened with masks).  0, or -1 with err naming the
 * file (an unreadable image or mask, a mask of another size than its
 * image).  Free with nr_fingerprint_free. */
int nr_fingerprint_compute(const nr_dataset *ds, nr_fingerprint *fp, char *err, size_t errlen);
void nr_fingerprint_free(nr_fingerprint *fp);


/* The q-th percentile (0..100, nearest rank) of values binned in hist (bins
 * over [0, 1], bin b = round(v * (bins - 1))): the bin's value b / (bins -
 * 1); 0 when hist is empty. */
double nr_hist_percentile(const uint64_t *hist, int bins, double q);

#endif
