/* layout.h — opening a dataset in any layout (nr_dataset_open), and the
 * layouts:
 *   folder: DIR/images/NAME.png|jpg with DIR/masks/NAME.png (same name but
 *        for the extension) (nr_dataset_open_folder).
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

/* Open DIR in whichever layout it has: the folder layout
 * (nr_dataset_open_folder), a VOC root (nr_layout_is_voc: the split is
 * `split`, default "train") or a list file (nr_layout_is_list); split is an
 * error for other layouts.  With need_masks, a mask of another size than
 * its image is an error (nr_dataset_check_sizes: headers only).  The
 * caller frees the result with nr_dataset_free. */
nr_dataset *nr_dataset_open(const char *dir, int need_masks, char *err, size_t errlen);
nr_dataset *nr_dataset_open_split(const char *dir, const char *split, int need_masks, char *err,
                                  size_t errlen);

/* The folder layout: the images (.png, .jpg, .jpeg: decoded by content, so a
 * JPEG named .png is read as JPEG) in DIR/images, sorted by name (byte
 * order, so sample numbers are the same on every machine).  need_masks:
 * pair every image with the mask of the same stem in DIR/masks (a.jpg with
 * a.png); an image without a mask, or a mask without an image, is an error
 * listing up to 5 names, and so are two files of one stem.  Without
 * need_masks and without DIR/images, DIR may itself hold the images, or be
 * a single image file (for predict); masks are then absent.  Names with
 * another extension or starting with '.', and non-regular files, are
 * skipped.  No images is an error.  The caller frees the result with
 * nr_dataset_free. */
nr_dataset *nr_dataset_open_folder(const char *dir, int need_masks, char *err, size_t errlen);

/* dir holds JPEGImages/ and ImageSets/Segmentation/. */
int nr_layout_is_voc(const char *dir);
/* path ends in .txt, .lst or .list. */
int nr_layout_is_list(const char *path);

nr_dataset *nr_layout_open_voc(const char *root, const char *split, int need_masks, char *err, size_t errlen);
nr_dataset *nr_layout_open_list(const char *path, int need_masks, char *err, size_t errlen);

/* The readers of those two, on the list's text (len bytes, read by the
 * callers above): messages name the list as `list` or `path` and its line;
 * VOC ids name ROOT/JPEGImages/ID.jpg (and the mask), a list file's paths
 * are resolved against dir ("" for the working folder) unless absolute.  A
 * NUL byte, or a path too long for a file name, is an error naming the
 * line.  The listed files must exist (regular files: ng_file_errno). */
nr_dataset *nr_layout_parse_voc(const char *text, size_t len, const char *list, const char *root, int need_masks,
                                char *err, size_t errlen);
nr_dataset *nr_layout_parse_list(const char *text, size_t len, const char *path, const char *dir, int need_masks,
                                 char *err, size_t errlen);

/* The samples' stems are distinct (predict writes OUTPUT/STEM.png): two
 * images of one stem (a list file naming a/x.jpg and b/x.png) are an error
 * naming both.  0 or -1 with err. */
int nr_dataset_check_stems(const nr_dataset *ds, char *err, size_t errlen);

#endif
