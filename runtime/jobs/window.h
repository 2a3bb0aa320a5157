/* window.h — evaluation and prediction on images of any size: sliding-window
 * inference over the whole image at its own size (nnU-Net's scheme), or the
 * image resized to the model input and the probabilities resized back, with
 * flip test-time augmentation and prior correction.  Used by nr_evaluate,
 * nr_predict and nr_infer_each (evaluate.c).
 *
 * Tiles: the model's input H x W.  Along a side longer than the tile, the
 * tiles start at round(k * (L - T) / (n - 1)), k = 0..n-1, with
 * n = ceil((L - T) / (T * (1 - overlap))) + 1 (option overlap): the first
 * tile at 0, the last flush with the border, steps at most T * (1 -
 * overlap).  A side shorter than the tile is padded (image 0 after
 * normalization, mask ignore) at the far end.  Each tile's output
 * (probabilities) is multiplied by a Gaussian centred on the tile, sigma =
 * window_sigma * T per axis (nnU-Net: 1/8, its maximum 1), summed into the
 * image and divided by the summed weights.  The infer entry's batch holds
 * tiles (of one image or the next ones).
 *
 * tta = flips: each tile is also run flipped horizontally, vertically and
 * both, each output flipped back, the four averaged; tta = all (square
 * tiles): also the transposes of those four, i.e. the 8 symmetries of the
 * square (as flips when H != W).  prior_correction = TAU: the
 * probabilities p_c are divided by prior_c^TAU (prior_c = (count_c + 1) /
 * (total + classes) from the training class counts, nr_model_class_counts;
 * a class absent from them counts as the most frequent one, so it is not
 * boosted) and renormalized, i.e. logits - TAU * log prior; TAU 0 is off.
 *
 * An ensemble (ensemble.h): every batch runs once per member, and the
 * members' outputs are averaged before the windows and TTA add them up.
 * Memory: the class sums of a sliding window are kept for the rows of tiles
 * in flight only (K x min(H, TH) x W floats per image; rows are classified
 * as soon as no later tile reaches them), and the resized probabilities are
 * made a row at a time, so that nothing of K x H x W is held; tiles are
 * normalized as they are cut (the padding stays 0), so that an image costs
 * its decoded planes, its mask and its H x W classes; K x H x W only when
 * the job wants the probabilities (probabilities, want_probs below).
 *
 * Images are decoded one ahead on a loader thread.  Over several ranks
 * (dist.h), rank r takes the images i with i % size == r. */
#ifndef NR_WINDOW_H
#define NR_WINDOW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataset.h"
#include "ensemble.h"
#include "exec.h"

/* What the runner shows for each image when its prediction is complete, in
 * dataset order: sample idx, the image (C,H,W) in [0,1] as decoded (before
 * normalization), the predicted classes (H,W), the labels (H,W) or NULL, at
 * the image's own size.  0, or -1 with err to stop. */
typedef int (*nr_window_visit)(void *ctx, int idx, const float *image, int c, int h, int w, const uint8_t *pred,
                               const int32_t *truth, char *err, size_t errlen);

/* The probabilities the mask of sample idx was taken from, (K,H,W) at the
 * image's own size after windows, TTA and prior correction, each pixel's
 * summing to 1 (nr_window_normalize); called after the visit.  0, or -1
 * with err to stop. */
typedef int (*nr_window_probs)(void *ctx, int idx, const float *probs, int k, int h, int w, char *err,
                               size_t errlen);

/* Where images come from without a dataset: image i (0..n_images-1) as
 * nr_dataset_load_any gives it, *image (c,*h,*w) in [0,1], malloc'ed (the
 * runner frees it).  0, or -1 with err. */
typedef int (*nr_window_load)(void *ctx, int i, int c, float **image, int *h, int *w, char *err, size_t errlen);

typedef struct {
    const char *entry;      /* "eval" (feeds the labels, sums the loss) or "infer" */
    int with_masks;         /* load the masks (ds must have them) */
    nr_window_visit visit;
    void *ctx;
    double loss_sum;        /* out (eval): sum over tiles of the entry's loss */
    int64_t loss_n;         /*   and the number of tiles */
    int64_t tiles;          /* out: model runs' tiles, TTA copies included */
    int all;                /* every image, not this rank's share (dist.h): for
                               what rank 0 alone does (the report's gallery) */
    nr_window_probs probabilities; /* or NULL: not wanted */
    int want_probs;         /* set probs for each visit: */
    const float *probs;     /* during a visit, the image's probabilities (K,h,w), what
                               nr_window_probs gets (prior correction applied, summing
                               to 1 per pixel) */
    const nr_ensemble *ens; /* the members to average (their outputs' mean), or NULL: the model's weights */
    nr_window_load load;    /* with ds NULL: n_images images from load(load_ctx, ...) */
    void *load_ctx;
    int n_images;
} nr_window_job;

/* Run j->entry over every image of ds, or of j->load when ds is NULL (this
 * rank's share), by the options
 * infer_size, overlap, window_sigma, tta, prior_correction, mean, std of the
 * model's graph.  0 or -1 with err. */
int nr_window_run(nr_model *m, const nr_dataset *ds, nr_window_job *j, char *err, size_t errlen);

/* The tile origins along a side of length len for tile size t (len > t:
 * several; else one at 0) into pos (at most max); returns their count. */
int nr_window_positions(int len, int t, double overlap, int *pos, int max);

/* The prior of class k of window.h from the training pixel counts (classes
 * entries): (count_k + 1) / (total + classes), an absent class counting as
 * the most frequent one. */
double nr_window_prior(const int64_t *counts, int classes, int k);

/* probs (K, hw): the summed tile outputs of each pixel, each class times
 * pw[k] (prior^-tau; pw NULL: 1), divided by their sum over the classes, in
 * place: the probabilities of window.h (0 where all are 0).  0, or -1 out
 * of memory. */
int nr_window_normalize(float *probs, int k, size_t hw, const float *pw);

/* The Gaussian importance map (h,w) of window.h, maximum 1. */
void nr_window_gaussian(int h, int w, double sigma_scale, float *out);

#endif
