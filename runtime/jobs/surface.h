/* surface.h — boundary metrics of one pair of binary masks (truth, prediction)
 * on a 2-D pixel grid: HD95 and normalized surface Dice as MONAI defines them
 * (HausdorffDistanceMetric(percentile=95), SurfaceDiceMetric), and boundary
 * IoU (Cheng et al., CVPR 2021), over an exact Euclidean distance transform
 * (Felzenszwalb & Huttenlocher 2012).  docs/usage.md has the definitions.
 *
 *   edges(M)  = M XOR erode(M), erode with the 4-connected cross, pixels
 *               outside the image counting as background
 *               (scipy.ndimage.binary_erosion's default, MONAI's get_mask_edges)
 *   d(p, E)   = Euclidean distance in pixels from pixel p to the nearest pixel of E
 *   HD95      = max(P95{d(p, edges(T)) : p in edges(P)}, P95{d(t, edges(P)) : t in edges(T)}),
 *               P95 numpy's percentile with linear interpolation; defined when
 *               both masks are non-empty
 *   NSD(tau)  = (#{p in edges(P) : d(p, edges(T)) <= tau} + #{t in edges(T) : d(t, edges(P)) <= tau})
 *               / (|edges(P)| + |edges(T)|); 0 when exactly one mask is empty
 *   BIoU      = |B(T) & B(P)| / |B(T) | B(P)|, B(M) = M minus its erosion by the
 *               (2d+1) square, outside = background; d = max(1, round(0.02 *
 *               sqrt(h^2 + w^2))), round half to even as the reference code's
 *               Python round(); 0 when exactly one mask is empty
 * Every function leaves NAN where both masks are empty. */
#ifndef NR_SURFACE_H
#define NR_SURFACE_H

#include <stddef.h>
#include <stdint.h>

/* The squared Euclidean distance from every pixel of an (h, w) grid to the
 * nearest pixel where feat is nonzero, exact (two 1-D lower-envelope passes),
 * into d2 (h, w); +INFINITY everywhere when feat has no pixel.  ws: 3 * max(h, w) + 1
 * doubles and max(h, w) ints of scratch (nr_surface_edt_ws gives bytes). */
size_t nr_surface_edt_ws(int h, int w);
void nr_surface_edt(const uint8_t *feat, int h, int w, double *d2, void *ws);

/* edge = m XOR its erosion with the 4-connected cross (outside = 0); (h, w). */
void nr_surface_edges(const uint8_t *m, int h, int w, uint8_t *edge);

/* The figures of one class in one image. */
typedef struct {
    double hd95; /* pixels; NAN unless both masks are non-empty */
    double nsd;  /* [0,1]; NAN when both are empty */
    double biou; /* [0,1]; NAN when both are empty */
} nr_surface;

/* Boundary IoU's d for an (h, w) image (surface.h's rule). */
int nr_surface_biou_d(int h, int w);

/* The three figures of masks truth and pred (h, w, 0/1), NSD at tolerance
 * tau pixels.  Works inside the bounding box of truth | pred (which the
 * edges and the nearest-edge distances do not leave).  0, or -1 when out of
 * memory. */
int nr_surface_compute(const uint8_t *truth, const uint8_t *pred, int h, int w, double tau, nr_surface *out);

#endif
