/* per_image.h — the metrics of each image of an evaluation and their dataset
 * summaries with nnU-Net's semantics (evaluate_predictions.py: a figure is
 * NAN where truth and prediction are both empty, the summary is the mean
 * over the images where it is defined), beside metrics.h's pooled ones.
 * Per image and class c: the truth mask is labels == c, the predicted mask
 * pred == c at the pixels whose label is not the ignore value; IoU and Dice
 * of those masks, HD95, NSD and boundary IoU of surface.h. */
#ifndef NR_PER_IMAGE_H
#define NR_PER_IMAGE_H

#include <stdint.h>
#include <stdio.h>

#include "dataset.h"

/* The figures kept per image and class. */
enum { NR_PI_IOU, NR_PI_DICE, NR_PI_HD95, NR_PI_NSD, NR_PI_BIOU, NR_PI_TRUTH, NR_PI_PRED, NR_PI_FIELDS };

typedef struct {
    int k, n;         /* classes, images (the dataset's) */
    double tau;       /* NSD tolerance, pixels */
    int overlap_only; /* 1: IoU and Dice only, HD95, NSD and boundary IoU left NAN */
    double *v;        /* (n, NR_PI_FIELDS, k): NAN where undefined; TRUTH, PRED: pixel counts */
    uint8_t *seen;    /* (n): image i measured (on this rank until nr_per_image_gather) */
    double *gather;   /* over several ranks: nr_per_image_gather's buffers (2 n NR_PI_FIELDS k + n) */
} nr_per_image;

/* 0, or -1 when out of memory; nr_per_image_free(NULL) is a no-op. */
int nr_per_image_init(nr_per_image *pi, int k, int n, double tau);
void nr_per_image_free(nr_per_image *pi);

/* The figures of image idx from its labels and prediction (h, w).  0, or -1
 * when out of memory. */
int nr_per_image_add(nr_per_image *pi, int idx, const int32_t *truth, const uint8_t *pred, int h, int w, int ignore);
/* Every rank's images into every rank's pi (dist.h); one process: nothing. */
void nr_per_image_gather(nr_per_image *pi);

/* Figure f of image i, class c. */
static inline double nr_per_image_at(const nr_per_image *pi, int i, int f, int c)
{
    return pi->v[((size_t)i * NR_PI_FIELDS + f) * pi->k + c];
}
/* The mean of figure f of class c over the images where it is defined (NAN
 * if none), their count into *count (may be NULL). */
double nr_per_image_mean(const nr_per_image *pi, int f, int c, int *count);
/* The mean over foreground classes (1..k-1) of their means, classes without
 * a defined image left out (nnU-Net's foreground mean); NAN if none. */
double nr_per_image_fg_mean(const nr_per_image *pi, int f);
/* Images where class c is in the truth and not predicted (missed), or
 * predicted and not in the truth (hallucinated). */
int nr_per_image_missed(const nr_per_image *pi, int c);
int nr_per_image_hallucinated(const nr_per_image *pi, int c);
/* The foreground mean Dice of image i (mean over classes 1..k-1 where
 * defined; NAN if none). */
double nr_per_image_fg_dice(const nr_per_image *pi, int i);

/* The members eval --json adds (each preceded by a comma): the summaries
 * (per_image_summary, hd95, nsd, boundary_iou, missed, hallucinated, ...)
 * and per_image, names from ds. */
void nr_per_image_print_json(FILE *out, const nr_per_image *pi, const nr_dataset *ds);
/* The per-class table of the summaries, for people. */
void nr_per_image_print(FILE *out, const nr_per_image *pi);

#endif
