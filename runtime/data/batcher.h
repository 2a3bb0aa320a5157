/* batcher.h — the training loader: loader threads decode, size, normalize
 * and augment the next batch while the current one is computed.  Every call
 * returns 0 / a pointer, or -1 / NULL with a one-line message in err naming
 * the file and the problem. */
#ifndef NR_BATCHER_H
#define NR_BATCHER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataset.h"
#include "netg.h"

typedef struct nr_batcher nr_batcher;

/* A loader with two batch buffers and loader threads (NETRUN_LOADER_THREADS,
 * default: the cores, at most 4) that share the samples of the submitted
 * batches.  Each sample is decoded at its own size, normalized
 * (nr_batcher_set_normalize), brought to h x w by the size policy
 * (nr_batcher_set_size) and augmented.  The dataset must outlive the
 * batcher.  with_masks: also load the labels (the dataset must have masks).
 * Free with nr_batcher_free. */
nr_batcher *nr_batcher_new(const nr_dataset *ds, int batch, int c, int h,
                           int w, int classes, int ignore, int with_masks,
                           char *err, size_t errlen);

/* Turn on random augmentation: each sample gets a horizontal flip, a vertical
 * flip and (when h == w) a transpose, each with probability 1/2 — together
 * the 8 flips and 90-degree rotations — applied alike to image and mask.  The
 * choice depends only on seed and the sample's position in the stream of
 * samples submitted since this call, counted from pos (a resumed run passes
 * the samples its steps so far took), so a run is reproducible; call it
 * again (e.g. with seed + epoch) to restart the stream.  Call between
 * batches. */
void nr_batcher_set_augment(nr_batcher *b, uint64_t seed, uint64_t pos);

/* Continue the stream of samples (the random crops' draws) at pos with
 * seed, like nr_batcher_set_augment but without turning flips on. */
void nr_batcher_set_stream(nr_batcher *b, uint64_t seed, uint64_t pos);

/* How a sample of another size than the model's h x w is brought to it
 * (option size, runtime/graph/options.def):
 *   NR_SIZE_CROP    an h x w window at a random position (uniform over the
 *                   positions inside the image; along a side where the
 *                   image is smaller, the image lies at a random place in
 *                   the window), padded (image 0 after normalization, mask
 *                   ignore) where it leaves the image; the default;
 *   NR_SIZE_PAD     the window at the top-left corner (padded the same);
 *   NR_SIZE_RESIZE  image bilinear, mask nearest neighbour.
 * A sample of the model's size is used as it is. */
enum { NR_SIZE_CROP = 0, NR_SIZE_PAD, NR_SIZE_RESIZE };
void nr_batcher_set_size(nr_batcher *b, int policy);

/* Per-channel normalization x = (v - mean[k]) / std[k] of the c channels
 * (v in [0,1]), before sizing and augmentation.  Default 0 and 1. */
void nr_batcher_set_normalize(nr_batcher *b, const float *mean, const float *std);

/* The crop hook (the sampling module: foreground oversampling).  Called on
 * a loader thread — several at once, so fn must be thread-safe — for each
 * sample of the NR_SIZE_CROP policy whose image is larger than the model
 * input along a side: sample is the dataset index, slot its place in the
 * batch (0..batch-1: nnU-Net forces the last ones), draw a 64-bit random
 * value that depends only on the stream's seed and the sample's position
 * in the stream (so a resumed run draws the same), img_h x img_w the
 * image's size, crop_h x crop_w the model's.  *y0, *x0 hold the uniform
 * choice on entry; fn may replace them with the window's top-left corner,
 * which may lie partly outside the image (padded, mask = ignore; clamped so
 * that at least one image pixel is inside).  fn NULL: the uniform crop.
 * Call between batches. */
typedef void (*nr_crop_fn)(void *ctx, int sample, int slot, uint64_t draw, int img_h, int img_w, int crop_h,
                           int crop_w, int *y0, int *x0);
void nr_batcher_set_crop(nr_batcher *b, nr_crop_fn fn, void *ctx);
/* The draw the crop hook gets for the sample at stream position pos of a
 * stream seeded by seed (nr_batcher_set_stream): the sampler draws the
 * images of a batch from the same value before submitting them. */
uint64_t nr_batcher_draw(uint64_t seed, uint64_t pos);

/* The loader threads; the seconds nr_batcher_wait spent waiting for a
 * batch not yet loaded, summed over all waits so far (*waits of them). */
int nr_batcher_threads(const nr_batcher *b);
double nr_batcher_wait_seconds(const nr_batcher *b, int64_t *waits);

/* Queue samples idx[0..n) (0 <= n <= batch) for loading into the next buffer.
 * At most 2 batches may be submitted and not yet waited for.  Returns 0, or -1
 * on misuse (n out of range, 2 batches already in flight).  A bad index is
 * reported by nr_batcher_wait. */
int nr_batcher_submit(nr_batcher *b, const int *idx, int n);

/* Wait for the oldest submitted batch.  *image (batch,C,H,W) and *mask
 * (batch,H,W; NULL without masks; mask may be NULL) point into the batcher and
 * stay valid until the batch after next is submitted.  *n is the number of
 * real samples; slots n..batch-1 hold zeros in the image and ignore in the
 * mask.  Returns 0, or -1 with the first load error of that batch (or on
 * misuse: nothing submitted). */
int nr_batcher_wait(nr_batcher *b, float **image, int32_t **mask, int *n,
                    char *err, size_t errlen);

/* Stop the thread (abandoning a batch mid-load), join it and free all. */
void nr_batcher_free(nr_batcher *b);

/* The training batcher's size policy (option size) and normalization
 * (options mean, std) from g.  0 or -1 with err. */
int nr_data_setup_batcher(nr_batcher *b, const ng_graph *g, char *err, size_t errlen);

/* netrun train --profile: the loader threads, the data wait per step (the
 * time the training loop waited for a batch) against the time in the train
 * entry, over steps steps. */
void nr_data_print_profile(FILE *f, const nr_batcher *b, double run_s, int64_t steps);

#endif
