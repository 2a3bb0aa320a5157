/* components.h — the 8-connected components of a binary mask (two-pass
 * labelling over a union-find), the connectivity of skimage.measure.label's
 * default in 2-D, which nnU-Net's post-processing uses. */
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

#endif
