/* image.h — images of any size and format for the data pipeline: decoding
 * by content (PNG or JPEG, whatever the file's extension), and the
 * geometric operations the size policies use (bilinear and nearest resize,
 * a window copy with padding), normalization and flips.  Layout: float
 * (C,H,W) planes, masks int32 (H,W). */
#ifndef NR_IMAGE_H
#define NR_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "netg.h"

/* Whether name ends in .png, .jpg or .jpeg (any case) and does not start
 * with '.'. */
int nr_image_name_ok(const char *name);

/* Decode the image at path (PNG or JPEG, told by its first bytes) at its
 * own size: *out (C,H,W) = (c,*h,*w) in [0,1], malloc'ed.  0 or -1 with err
 * naming the file. */
int nr_image_load(const char *path, int c, int *h, int *w, float **out, char *err, size_t errlen);

/* The size of the image at path (PNG or JPEG) as its header says (PNG's
 * IHDR, JPEG's SOF), without decoding it: 0, or -1 with err naming the file.
 * A size past int reads as -1. */
int nr_image_size(const char *path, int *h, int *w, char *err, size_t errlen);

/* A label mask (PNG only, see nr_png_read_mask) at its own size: *out (H,W)
 * malloc'ed.  A JPEG is an error that says why. */
int nr_mask_load(const char *path, int classes, int ignore, int *h, int *w, int32_t **out, char *err,
                 size_t errlen);

/* Resize (C,ih,iw) to (C,oh,ow) bilinearly, pixel centres aligned as in
 * PIL and torch's interpolate(align_corners=False) (no antialiasing). */
void nr_resize_bilinear(const float *in, int c, int ih, int iw, float *out, int oh, int ow);
/* Rows y_begin..y_end-1 of that resize into out (C, y_end - y_begin, ow),
 * each as the whole resize computes it. */
void nr_resize_bilinear_rows(const float *in, int c, int ih, int iw, float *out, int oh, int ow, int y_begin,
                             int y_end);
/* Resize a mask by nearest neighbour: out(y,x) = in(floor((y+0.5)*ih/oh),
 * floor((x+0.5)*iw/ow)). */
void nr_resize_nearest(const int32_t *in, int ih, int iw, int32_t *out, int oh, int ow);

/* out (C,oh,ow) = the window of in (C,ih,iw) whose top-left corner is
 * (y0,x0), which may lie outside the image; pixels outside get fill. */
void nr_window_f32(const float *in, int c, int ih, int iw, int y0, int x0, float *out, int oh, int ow,
                   float fill);
void nr_window_i32(const int32_t *in, int ih, int iw, int y0, int x0, int32_t *out, int oh, int ow,
                   int32_t fill);

/* x[k] = (x[k] - mean[k]) / std[k] over each of the c planes of hw pixels. */
void nr_normalize(float *x, int c, size_t hw, const float *mean, const float *std);

/* The mean and std of the options (one value or one per channel) for a
 * c-channel model into mean[c], std[c].  -1 with err when a list has
 * another length. */
int nr_image_norm_options(const ng_graph *g, int c, float *mean, float *std, char *err, size_t errlen);

#endif
