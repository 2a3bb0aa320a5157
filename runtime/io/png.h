/* png.h — PNG images and label masks in and out of netrun, over libpng.
 * Readers convert to the model's layout (float (C,H,W) in [0,1], int32 (H,W)
 * class indices); writers are atomic (tmp file in the same folder + rename).
 * Every function returns 0, or -1 with a one-line message in err that starts
 * with the file name.  Bad input never crashes or aborts. */
#ifndef NR_PNG_H
#define NR_PNG_H

#include <stddef.h>
#include <stdint.h>

/* Read an image of exactly h x w pixels into out (C,H,W) = (c,h,w), values
 * in [0,1] (v/255 or v/65535).  Accepts 1/2/4/8/16-bit gray, gray+alpha, RGB,
 * RGBA and palette PNGs; alpha is dropped, palettes are expanded to RGB.
 * c == 1: colour images become luma 0.299R + 0.587G + 0.114B.
 * c == 3: gray images are replicated into the three channels.
 * Any other c, or another size, is an error. */
int nr_png_read_image(const char *path, int c, int h, int w,
                      float *out /* (C,H,W) */, char *err, size_t errlen);

/* Read a label mask of exactly h x w pixels into out (H,W).  Accepts gray or
 * palette PNGs of at most 8 bits whose pixel value (the palette index, not its
 * colour: the PASCAL VOC convention) is the class.  Value `ignore` (usually
 * 255) is kept as is and means "no label"; any other value >= classes is an
 * error naming the value and the first pixel (x,y) holding it.  RGB, alpha
 * and 16-bit masks are errors. */
int nr_png_read_mask(const char *path, int h, int w, int classes, int ignore,
                     int32_t *out /* (H,W) */, char *err, size_t errlen);

/* The same two readers on a PNG held in memory (buf, len bytes); messages
 * start with name instead of a path. */
int nr_png_decode_image(const void *buf, size_t len, const char *name, int c, int h, int w,
                        float *out /* (C,H,W) */, char *err, size_t errlen);
int nr_png_decode_mask(const void *buf, size_t len, const char *name, int h, int w, int classes,
                       int ignore, int32_t *out /* (H,W) */, char *err, size_t errlen);

/* The largest image the any-size readers accept (decompression bombs). */
#define NR_IMAGE_MAX_SIDE 32768
#define NR_IMAGE_MAX_PIXELS (1 << 26)

/* p (n bytes) starts with the PNG signature. */
int nr_png_sniff(const void *p, size_t n);
/* A PNG's size as its header (IHDR) says, without decoding it: 0, or -1
 * with "PATH: not a PNG file" (or why it cannot be opened) in err.  The
 * values are the header's as they are (0 and more than 2^31 included). */
int nr_png_size(const char *path, uint32_t *h, uint32_t *w, char *err, size_t errlen);

/* The readers above at the file's own size: *out (malloc'ed, the caller
 * frees it) (C,H,W) resp. (H,W), *h, *w its size.  With buf set, the PNG is
 * the len bytes there and messages start with path as its name. */
int nr_png_load_image(const char *path, const void *buf, size_t len, int c, int *h, int *w, float **out,
                      char *err, size_t errlen);
int nr_png_load_mask(const char *path, const void *buf, size_t len, int classes, int ignore, int *h, int *w,
                     int32_t **out, char *err, size_t errlen);

/* Write classes (H,W) as an 8-bit palette PNG with the PASCAL VOC colour map
 * (0 black, 1 (128,0,0), 2 (0,128,0), 3 (128,128,0), ..., 255 (224,224,192)).
 * Atomic: the old file, if any, is replaced only on success. */
int nr_png_write_mask(const char *path, int h, int w,
                      const uint8_t *classes /* (H,W) */,
                      char *err, size_t errlen);

/* Write px (H,W) as an 8-bit grayscale PNG.  Atomic like nr_png_write_mask. */
int nr_png_write_gray8(const char *path, int h, int w,
                       const uint8_t *px /* (H,W) */, char *err, size_t errlen);

/* Write rgb (H,W,3) as an 8-bit RGB PNG.  Atomic like nr_png_write_mask. */
int nr_png_write_rgb8(const char *path, int h, int w,
                      const uint8_t *rgb /* (H,W,3) */, char *err, size_t errlen);

/* The same RGB PNG in memory: *out is malloc'd (len bytes), freed by the
 * caller.  Messages do not name a file. */
int nr_png_encode_rgb8(int h, int w, const uint8_t *rgb /* (H,W,3) */, unsigned char **out, size_t *len,
                       char *err, size_t errlen);

/* The palette of the PNG at path: its PLTE colours in rgb[0..*n-1], *n = 0
 * (rgb untouched) when it has none (not a palette PNG). */
int nr_png_read_palette(const char *path, uint8_t rgb[256][3], int *n, char *err, size_t errlen);

/* The PASCAL VOC colour of class index i (0..255): rgb[0..2]. */
void nr_png_voc_color(int i, uint8_t rgb[3]);

#endif
