/* dataset.h — a folder of PNGs as numbered samples, and a batcher that loads
 * the next batch on a background thread while the current one is computed.
 * Layout: DIR/images/NAME.png with DIR/masks/NAME.png (same name) for the
 * label of each image.  Every call returns 0 / a pointer, or -1 / NULL with a
 * one-line message in err naming the file and the problem. */
#ifndef NR_DATASET_H
#define NR_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef struct nr_dataset nr_dataset;
typedef struct nr_batcher nr_batcher;

/* List the .png files in DIR/images, sorted by name (byte order, so sample
 * numbers are the same on every machine).  need_masks: pair every image with
 * DIR/masks/<same name>; an image without a mask, or a mask without an image,
 * is an error listing up to 5 names.  Without need_masks and without
 * DIR/images, DIR may itself hold the PNGs, or be a single .png file (for
 * predict); masks are then absent.  Names that do not end in .png (any case)
 * or start with '.', and non-regular files, are skipped.  No images is an
 * error.  The caller frees the result with nr_dataset_free. */
nr_dataset *nr_dataset_open(const char *dir, int need_masks, char *err,
                            size_t errlen);
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
 * classes, or ignore). */
int nr_dataset_load(const nr_dataset *ds, int i, int c, int h, int w,
                    int classes, int ignore, float *image /* (C,H,W) */,
                    int32_t *mask /* (H,W) or NULL */, char *err,
                    size_t errlen);

/* Pixels per class over all masks of the dataset into counts (classes);
 * pixels equal to ignore are not counted.  Needs masks. */
int nr_dataset_class_counts(const nr_dataset *ds, int h, int w, int classes,
                            int ignore, int64_t *counts /* (classes) */,
                            char *err, size_t errlen);

/* A loader with one background thread and two batch buffers.  The dataset
 * must outlive the batcher.  with_masks: also load the labels (the dataset
 * must have masks).  Free with nr_batcher_free. */
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
