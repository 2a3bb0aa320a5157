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
 * Memory: the class sums of a sliding window are kept for the rows of tiles
 * in flight only (K x min(H, TH) x W floats per image; rows are classified
 * as soon as no later tile reaches them), and the resized probabilities are
 * made a row at a time, so that nothing of K x H x W is held; tiles are
 * normalized as they are cut (the padding stays 0), so that an image costs
 * its decoded planes, its mask and its H x W classes.
 *
 * Images are decoded one ahead on a loader thread.  Over several ranks
 * (dist.h), rank r takes the images i with i % size == r. */
#ifndef NR_WINDOW_H
#define NR_WINDOW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataset.h"
#include "exec.h"

/* What the runner shows for each image when its prediction is complete, in
 * dataset order: sample idx, the image (C,H,W) in [0,1] as decoded (before
 * normalization), the predicted classes (H,W), the labels (H,W) or NULL, at
 * the image's own size.  0, or -1 with err to stop. */
typedef int (*nr_window_visit)(void *ctx, int idx, const float *image, int c, int h, int w, const uint8_t *pred,
                               const int32_t *truth, char *err, size_t errlen);

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
} nr_window_job;

/* Run j->entry over every image of ds (this rank's share), by the options
 * infer_size, overlap, window_sigma, tta, prior_correction, mean, std of the
 * model's graph.  0 or -1 with err. */
int nr_window_run(nr_model *m, const nr_dataset *ds, nr_window_job *j, char *err, size_t errlen);

/* The tile origins along a side of length len for tile size t (len > t:
 * several; else one at 0) into pos (at most max); returns their count. */
int nr_window_positions(int len, int t, double overlap, int *pos, int max);

/* The Gaussian importance map (h,w) of window.h, maximum 1. */
void nr_window_gaussian(int h, int w, double sigma_scale, float *out);

#endif
