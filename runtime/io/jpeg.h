/* jpeg.h — JPEG images into netrun, over libjpeg-turbo's TurboJPEG API.
 * Masks are never JPEG (lossy compression changes class values).  Every
 * function returns 0, or -1 with a one-line message in err that starts with
 * the file name.  Bad input never crashes or aborts. */
#ifndef NR_JPEG_H
#define NR_JPEG_H

#include <stddef.h>

/* Whether the n bytes at p start like a JPEG file (FF D8 FF). */
int nr_jpeg_sniff(const void *p, size_t n);

/* A JPEG's size as its frame header (SOFn) says, read marker by marker
 * without decoding: 0, or -1 with "PATH: corrupt JPEG" (or why it cannot be
 * opened) in err. */
int nr_jpeg_size(const char *path, int *h, int *w, char *err, size_t errlen);

/* Decode a JPEG (the file at path, or with buf the len bytes there, named
 * path in messages) at its own size into *out (malloc'ed, the caller frees
 * it): float (C,H,W) = (c,*h,*w) in [0,1] (v/255).  Gray and colour (YCbCr,
 * RGB) JPEGs; c == 1: colour becomes luma 0.299R + 0.587G + 0.114B as in the
 * PNG reader; c == 3: gray is replicated.  CMYK/YCCK JPEGs, c other than 1
 * or 3, and images past NR_IMAGE_MAX_SIDE / NR_IMAGE_MAX_PIXELS (png.h) are
 * errors. */
int nr_jpeg_load_image(const char *path, const void *buf, size_t len, int c, int *h, int *w, float **out,
                       char *err, size_t errlen);

/* Write px (H,W,3) RGB (or (H,W) gray when channels == 1) as a JPEG of
 * quality 1..100 (tests and examples).  Not atomic. */
int nr_jpeg_write(const char *path, int h, int w, int channels, const unsigned char *px, int quality,
                  char *err, size_t errlen);

#endif
