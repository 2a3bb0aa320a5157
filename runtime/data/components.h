/* components.h — 8-connected components over a union-find, the
 * connectivity of skimage.measure.label's default in 2-D: of a binary mask
 * (nnU-Net's post-processing, jobs/postprocess.c), and of the equal values
 * of a label mask (the objects per class of the fingerprint). */
#ifndef NR_COMPONENTS_H
#define NR_COMPONENTS_H

#include <stdint.h>

/* The most components an (h, w) mask can have: ceil(h/2) * ceil(w/2). */
static inline int64_t nr_cc_max(int h, int w)
{
    return (int64_t)((h + 1) / 2) * ((w + 1) / 2);
}
/* Label the components of m (h, w; nonzero = set) into lab (h, w): 0 where m
 * is 0, else 1..n in raster order of each component's first pixel; their
 * pixel counts into size[1..n] (size: nr_cc_max(h, w) + 1 entries).
 * Returns n, or -1 when out of memory. */
int nr_cc_label(const uint8_t *m, int h, int w, int32_t *lab, int64_t *size);

/* The 8-connected components of equal values of mask (H,W): label[i] =
 * the component of pixel i, numbered 0.. in raster order of their first
 * pixel.  Returns their count, or -1 when out of memory. */
int64_t nr_components(const int32_t *mask /* (H,W) */, int h, int w, int32_t *label /* (H,W) */);

#endif
