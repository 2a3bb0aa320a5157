/* folds.h — cross-validation for netrun train (--folds K --fold I): the
 * training set split into K folds, deterministically and stratified by
 * class, fold I held out for validation.  Each returns 0 / a pointer, or
 * -1 / NULL with a one-line message in err naming the value or the file. */
#ifndef NR_FOLDS_H
#define NR_FOLDS_H

#include <stddef.h>
#include <stdio.h>

#include "dataset.h"

/* The fold (0..k-1) of each of ds's images into fold[] (count entries),
 * from its masks (classes, ignore as the model's).  Stratified: each image
 * is keyed by the rarest foreground class it holds (fewest images), none
 * for background only; the images are ordered by their key's rarity, then
 * by a hash of their name (not the listing order, not the seed: every fold
 * of every run sees one split), and dealt to the folds in turn, so the k
 * images of a class that is the rarest of each of them land in k folds, and
 * the folds' sizes differ by at most one.  Errors: k < 2, k above the
 * image count, no labelled pixel of a second class in the masks. */
int nr_folds_assign(const nr_dataset *ds, int classes, int ignore, int k, int *fold, char *err, size_t errlen);

/* Cross-validation's datasets: *ds (opened with masks) becomes its images
 * outside fold i of nr_folds_assign's k folds, and *val those in fold i,
 * both in *ds's order.  On failure *ds is as it was and *val NULL. */
int nr_folds_make(nr_dataset **ds, nr_dataset **val, int classes, int ignore, int k, int i, char *err, size_t errlen);

/* RUNDIR/split.json, atomically: {"folds":K,"fold":I,"data":DATA,"train":[names],"val":[names]}. */
int nr_folds_write(const char *path, int k, int i, const char *data, const nr_dataset *train, const nr_dataset *val,
                   char *err, size_t errlen);

#endif
