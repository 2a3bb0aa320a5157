/* dataset.h — a dataset as numbered samples (image and mask paths), and a
 * batcher whose loader threads decode, size, normalize and augment the next
 * batch while the current one is computed.  Layouts: DIR/images/NAME.png|jpg
 * with DIR/masks/NAME.png (same name but for the extension); the PASCAL VOC
 * folders; a list file (layout.h).  Every call returns 0 / a pointer, or
 * -1 / NULL with a one-line message in err naming the file and the
 * problem. */
#ifndef NR_DATASET_H
#define NR_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef struct nr_dataset nr_dataset;
typedef struct nr_batcher nr_batcher;

/* List the images (.png, .jpg, .jpeg: decoded by content, so a JPEG named
 * .png is read as JPEG) in DIR/images, sorted by name (byte order, so sample
 * numbers are the same on every machine).  need_masks: pair every image with
 * the mask of the same stem in DIR/masks (a.jpg with a.png); an image
 * without a mask, or a mask without an image, is an error listing up to 5
 * names, and so are two files of one stem.  Without need_masks and without
 * DIR/images, DIR may itself hold the images, or be a single image file (for
 * predict); masks are then absent.  Names with another extension or starting
 * with '.', and non-regular files, are skipped.  No images is an error.
 * DIR may also be a VOC root (nr_layout_is_voc: the split is `split`,
 * default "train") or a list file (nr_layout_is_list); split is an error
 * for other layouts.  The caller frees the result with nr_dataset_free. */
nr_dataset *nr_dataset_open(const char *dir, int need_masks, char *err,
                            size_t errlen);
nr_dataset *nr_dataset_open_split(const char *dir, const char *split, int need_masks, char *err,
                                  size_t errlen);
/* A dataset of the n samples given (strings copied; masks NULL: none), for
 * the layouts.  NULL when out of memory. */
nr_dataset *nr_dataset_from_paths(int n, char *const *names, char *const *images, char *const *masks);
void nr_dataset_free(nr_dataset *ds);

/* Number of samples; name ("img_007.png"), image path and mask path (NULL
 * when opened without masks) of sample i in 0..count-1.  The strings belong
 * to the dataset. */
int nr_dataset_count(const nr_dataset *ds);
const char *nr_dataset_name(const nr_dataset *ds, int i);
const char *nr_dataset_image_path(const nr_dataset *ds, int i);
const char *nr_dataset_mask_path(const nr_dataset *ds, int i);

/* Load sample i: image (C,H,W) = (c,h,w) in [0,1] (see nr_png_read_image) and,
 * when mask is not NULL, its labels (H,W) (see nr_png_read_mask: values below
 * classes, or ignore).  Another size than h x w is an error. */
int nr_dataset_load(const nr_dataset *ds, int i, int c, int h, int w,
                    int classes, int ignore, float *image /* (C,H,W) */,
                    int32_t *mask /* (H,W) or NULL */, char *err,
                    size_t errlen);

/* Sample i at its own size: *image (C,H,W) and, when mask is not NULL,
 * *mask (H,W), both malloc'ed (the caller frees them), *h x *w.  A mask of
 * another size than its image is an error naming both. */
int nr_dataset_load_any(const nr_dataset *ds, int i, int c, int classes, int ignore, float **image,
                        int32_t **mask, int *h, int *w, char *err, size_t errlen);

/* Pixels per class over all masks of the dataset into counts (classes);
 * pixels equal to ignore are not counted.  Needs masks.  h, w > 0: every
 * mask must be h x w; h = w = 0: each mask at its own size. */
int nr_dataset_class_counts(const nr_dataset *ds, int h, int w, int classes,
                            int ignore, int64_t *counts /* (classes) */,
                            char *err, size_t errlen);

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
 * (option size, runtime/options.def):
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

#endif
