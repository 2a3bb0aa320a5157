/* layout.h — opening a dataset in any layout (nr_dataset_open), and the
 * layouts other than DIR/images + DIR/masks (dataset.h):
 *   VOC: ROOT/JPEGImages/ID.jpg, ROOT/SegmentationClass/ID.png and the split
 *        lists ROOT/ImageSets/Segmentation/SPLIT.txt (one ID a line), as in
 *        VOCdevkit/VOC2012.  Every ID of the split must have its image (and,
 *        with masks, its mask): a missing one is an error naming the file
 *        and the list line; nothing is skipped.
 *   list file: a text file (.txt, .lst, .list) of lines "IMAGE MASK" (or
 *        just "IMAGE" when masks are not needed), paths relative to the
 *        file's folder unless absolute; '#' starts a comment, blank lines are
 *        skipped.  A missing file is an error naming it and the line. */
#ifndef NR_LAYOUT_H
#define NR_LAYOUT_H

#include <stddef.h>

#include "dataset.h"

/* Open DIR in whichever layout it has: the folder layout (dataset.h,
 * nr_dataset_open_folder), a VOC root (nr_layout_is_voc: the split is
 * `split`, default "train") or a list file (nr_layout_is_list); split is an
 * error for other layouts.  The caller frees the result with
 * nr_dataset_free. */
nr_dataset *nr_dataset_open(const char *dir, int need_masks, char *err, size_t errlen);
nr_dataset *nr_dataset_open_split(const char *dir, const char *split, int need_masks, char *err,
                                  size_t errlen);

/* dir holds JPEGImages/ and ImageSets/Segmentation/. */
int nr_layout_is_voc(const char *dir);
/* path ends in .txt, .lst or .list. */
int nr_layout_is_list(const char *path);

nr_dataset *nr_layout_open_voc(const char *root, const char *split, int need_masks, char *err, size_t errlen);
nr_dataset *nr_layout_open_list(const char *path, int need_masks, char *err, size_t errlen);

/* The samples' stems are distinct (predict writes OUTPUT/STEM.png): two
 * images of one stem (a list file naming a/x.jpg and b/x.png) are an error
 * naming both.  0 or -1 with err. */
int nr_dataset_check_stems(const nr_dataset *ds, char *err, size_t errlen);

#endif
