/* overlay.h — a segmentation a person can look at: the input image with a
 * label map blended over it in the masks' class palette, and (when the truth
 * is known) four panels side by side: image | truth | prediction | errors.
 * Rendering is pure (nr_overlay_render, RGB bytes in the caller's buffer);
 * nr_overlay_write writes a PNG file, atomically (png.h's nr_png_encode_rgb8
 * makes one in memory, for the HTML report's data URIs).  Functions that can
 * fail return 0, or -1 with a one-line message in err. */
#ifndef NR_OVERLAY_H
#define NR_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

/* Colours of the class indices 0..255 (entry 255: the ignore value). */
typedef struct {
    uint8_t rgb[256][3];
} nr_palette;

/* The PASCAL VOC colour map, which netrun predict's masks carry. */
void nr_palette_voc(nr_palette *p);
/* The PLTE of a palette PNG mask (entries it lacks keep their VOC colour);
 * a gray mask leaves the VOC colours.  *from_file (may be NULL) says which. */
int nr_palette_from_mask(const char *path, nr_palette *p, int *from_file, char *err, size_t errlen);

/* The blend rule.  base = the image as 8-bit RGB: round(255 v), v clamped to
 * [0,1]; C = 1 (or 2: channel 0) is gray, C >= 3 takes channels 0..2.  A
 * pixel of class k > 0 becomes (base (255 - A) + pal[k] A + 127) / 255
 * (integer division, per channel, A = NR_OVERLAY_ALPHA); class 0 (the
 * background) keeps base.  In the truth panel the ignore value shows as
 * pal[255] blended the same way (VOC: (224,224,192)).  The errors panel is
 * base dimmed to (base NR_OVERLAY_DIM + 127) / 255 where the prediction is
 * right or the truth is ignored, and solid colour where it is wrong:
 * NR_OVERLAY_MISSED (truth foreground, predicted 0), NR_OVERLAY_FALSE
 * (truth 0, predicted foreground), NR_OVERLAY_CONFUSED (two foreground
 * classes). */
#define NR_OVERLAY_ALPHA 160
#define NR_OVERLAY_DIM 90
#define NR_OVERLAY_GAP 2 /* white columns between two panels */
extern const uint8_t NR_OVERLAY_MISSED[3], NR_OVERLAY_FALSE[3], NR_OVERLAY_CONFUSED[3];

/* The rendered size: h x w without truth (one panel: the prediction over the
 * image), h x (4 w + 3 NR_OVERLAY_GAP) with it. */
void nr_overlay_size(int h, int w, int with_truth, int *out_h, int *out_w);

/* Render into rgb (out_h, out_w, 3) of nr_overlay_size.  image (C,H,W) in
 * [0,1]; pred (H,W) class indices; truth (H,W) or NULL: class indices, or
 * ignore (any value outside 0..classes-1 counts as ignored, drawn as
 * pal[255]). */
void nr_overlay_render(const float *image /* (C,H,W) */, int c, int h, int w,
                       const uint8_t *pred /* (H,W) */, const int32_t *truth /* (H,W) or NULL */,
                       int classes, const nr_palette *pal, uint8_t *rgb /* (out_h, out_w, 3) */);

/* The hook of netrun predict --overlay: render and write path as an RGB PNG
 * (atomically, not durably, like predicted masks). */
int nr_overlay_write(const char *path, const float *image /* (C,H,W) */, int c, int h, int w,
                     const uint8_t *pred /* (H,W) */, const int32_t *truth /* (H,W) or NULL */,
                     int classes, const nr_palette *pal, char *err, size_t errlen);

#endif
