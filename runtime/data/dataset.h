/* dataset.h — a dataset as numbered samples (image and mask paths), as the
 * layouts make it (layout.h: DIR/images + DIR/masks, the PASCAL VOC folders,
 * list files).  Every call returns 0 / a pointer, or -1 / NULL with a
 * one-line message in err naming the file and the problem. */
#ifndef NR_DATASET_H
#define NR_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef struct nr_dataset nr_dataset;

/* For the layouts: an empty dataset, with masks or without (NULL when out
 * of memory), and a sample appended to it (the strings are copied; mask is
 * ignored without masks, not NULL with them): 0, or -1 when out of memory
 * (the dataset as it was). */
nr_dataset *nr_dataset_new(int with_masks);
int nr_dataset_add(nr_dataset *ds, const char *name, const char *image, const char *mask);
void nr_dataset_free(nr_dataset *ds);

/* Number of samples; name ("img_007.png"), image path and mask path (NULL
 * when opened without masks) of sample i in 0..count-1.  The strings belong
 * to the dataset. */
int nr_dataset_count(const nr_dataset *ds);
int nr_dataset_has_masks(const nr_dataset *ds); /* opened with masks */
const char *nr_dataset_name(const nr_dataset *ds, int i);
const char *nr_dataset_image_path(const nr_dataset *ds, int i);
const char *nr_dataset_mask_path(const nr_dataset *ds, int i);

/* 0 when out_dir (which need not exist yet) is outside the dataset's
 * folders: those of its images and masks, and the masks/ and
 * SegmentationClass/ folders beside a folder of its images (the layouts'
 * masks, read or not).  Else -1 with "OUT: inside the dataset's folder DIR
 * ...": predicted masks written there would overwrite (or mix with) the
 * images or the truth.  Folders are compared by identity (device and
 * inode), so another spelling or a link of one is caught too. */
int nr_dataset_check_output(const nr_dataset *ds, const char *out_dir, char *err, size_t errlen);

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

/* Every mask has its image's size, as their headers say (PNG's IHDR,
 * JPEG's SOF: no pixel is decoded): 0, or -1 with an error naming both files
 * and sizes, as nr_dataset_load_any's.  Nothing to check without masks. */
int nr_dataset_check_sizes(const nr_dataset *ds, char *err, size_t errlen);

/* Pixels per class over all masks of the dataset into counts (classes);
 * pixels equal to ignore are not counted.  Needs masks.  h, w > 0: every
 * mask must be h x w; h = w = 0: each mask at its own size. */
int nr_dataset_class_counts(const nr_dataset *ds, int h, int w, int classes,
                            int ignore, int64_t *counts /* (classes) */,
                            char *err, size_t errlen);

#endif
