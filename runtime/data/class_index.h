/* class_index.h — the class location index of a dataset's masks: per image
 * its size, the pixels of every class and a bounded sample of every
 * foreground class's positions, per foreground class the images holding it,
 * built once and cached in the run folder as
 * class_stats.bin (its format in class_index.c).  What foreground
 * oversampling, repeat factors and class weights are computed from
 * (sampler.h).  Functions return 0 / a pointer, or -1 / NULL with a
 * one-line message in err naming the file or the value. */
#ifndef NR_CLASS_INDEX_H
#define NR_CLASS_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataset.h"

typedef struct nr_class_index nr_class_index;

/* Default bound on the stored positions of one class in one image (nnU-Net's
 * class_locations: 10000, or 1% of the class's pixels when that is more). */
#define NR_CLASS_LOCS_MAX 10000

/* The index of ds's masks: per image its size, the pixel count of every class
 * (ignore not counted) and, for every foreground class (1..classes-1)
 * present, a reproducible uniform sample without replacement of min(count,
 * max(max_locs, ceil(count / 100))) of its pixel positions (y * w + x, in
 * raster order).  Masks are read once, in parallel on the thread pool
 * (nr_par_for; call from the main thread).
 *
 * With cache_path (RUNDIR/class_stats.bin) not NULL: when the file exists and
 * its key matches (classes, ignore, max_locs, and every mask's name, size in
 * bytes and mtime in ns), the index is read from it and no mask is read;
 * otherwise it is built and written there (atomically).  A file that is
 * corrupt (bad magic, version, length or CRC, counts that do not add up) is
 * never trusted: a line on `report` says why and the index is rebuilt.  A
 * cache that cannot be written is a warning on `report`, not an error.
 * *built (may be NULL) is 1 when the masks were read, 0 when the cache was
 * used.  report may be NULL.  Free with nr_class_index_free. */
nr_class_index *nr_class_index_get(const nr_dataset *ds, int classes, int ignore, int max_locs,
                                   const char *cache_path, FILE *report, int *built, char *err,
                                   size_t errlen);
void nr_class_index_free(nr_class_index *ix);

int nr_class_index_images(const nr_class_index *ix);
int nr_class_index_classes(const nr_class_index *ix);
/* Size of image i. */
void nr_class_index_size(const nr_class_index *ix, int i, int *h, int *w);
/* Pixels of class c in image i. */
int64_t nr_class_index_pixels(const nr_class_index *ix, int i, int c);
/* The stored positions (y * w + x) of foreground class c in image i: returns
 * their count (0 for class 0, an absent class, or c out of range) and points
 * *pos at them (owned by the index). */
int nr_class_index_locations(const nr_class_index *ix, int i, int c, const uint32_t **pos);
/* The foreground classes with stored positions in some image, increasing:
 * returns their count and points *classes at them (owned by the index). */
int nr_class_index_fg(const nr_class_index *ix, const int **classes);
/* The images with stored positions of foreground class c, increasing:
 * returns their count (0 for class 0, an absent class, or c out of range)
 * and points *images at them (owned by the index). */
int nr_class_index_holders(const nr_class_index *ix, int c, const int **images);
/* Pixels per class over all images into counts (classes): the counts class
 * weights are computed from (nr_model_set_class_weights). */
void nr_class_index_totals(const nr_class_index *ix, int64_t *counts /* (classes) */);

#endif
