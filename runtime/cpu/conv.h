/* conv.h — netrun's fast convolutions: register-blocked direct kernels, a
 * row-wise Winograd F(4,3) and a two-dimensional F(4x4,3x3) for 3x3 kernels,
 * AVX-512 or AVX2 chosen at run time, threaded through nr_par_for (parallel.h).  Same layouts and
 * contracts as the im2col kernels of kernels.h; each function returns 0 when
 * it computed its result and -1, having written nothing, for a geometry or
 * machine it does not handle, and the caller then uses kernels.h. */
#ifndef NR_CONV_H
#define NR_CONV_H

#include "kernels.h"

#include <stdint.h>

/* Handled: dilation 1 and one group (others: the depthwise path below or
 * kernels.h), stride 1, output width = input width (ow == w), kh*kw <= 25,
 * 0 <= pad_t < kh, 0 <= pad_l < kw, no empty dimension, fewer than
 * 512 x 512 channel pairs (C*K; with more, im2col + OpenBLAS measured
 * faster, except for the 3x3 passes with 64 output tiles of 4x4 or more,
 * which F(4x4,3x3) takes at any C*K), on a CPU with AVX2 + FMA: the 'same' convolutions of any kernel
 * size (pad_b and pad_r implied by oh and ow as in kernels.h, e.g.
 * TensorFlow's 2x2 'same') and 1x1 ones.  The results do not depend on the number of threads (fixed task
 * boundaries, partial sums added in a fixed order).  Not reentrant: one
 * caller thread at a time, as for nr_par_for. */

/* Floats of workspace the three functions need for g, 0 when they do not
 * handle it: the packed or Winograd-transformed weights (1x the weights
 * packed, 4x for 3x3 kernels: F(4x4,3x3)'s) and the weight gradient's
 * partial sums (up to 8 MiB or 1x the weights, whichever is more; 4x the
 * weights by F(4x4,3x3); 16x the weights below 8 input channels).  A
 * pure function of the geometry, so a
 * memory plan can size it ahead; it does not include nr_conv_ws_elems
 * (kernels.h), which the fallback needs. */
int64_t nr_conv_fast_ws_elems(const nr_conv_geom *g);

/* y (N,K,OH,OW) = act(conv(x (N,C,H,W), w (K,C,KH,KW)) + b (K)), act = ReLU
 * when relu is set; b may be NULL.  ws: nr_conv_fast_ws_elems(g) floats. */
int nr_conv_fast_fwd(const nr_conv_geom *g, const float *x, const float *w,
                     const float *b, int relu, float *y, float *ws);
/* dx (N,C,H,W) from dy (N,K,OH,OW) and w (K,C,KH,KW); dx overwritten. */
int nr_conv_fast_bwd_data(const nr_conv_geom *g, const float *dy, const float *w,
                          float *dx, float *ws);
/* dw (K,C,KH,KW) from dy (N,K,OH,OW) and x (N,C,H,W); dw overwritten (the
 * bias gradient stays nr_conv2d_bwd_bias). */
int nr_conv_fast_bwd_filter(const nr_conv_geom *g, const float *dy, const float *x,
                            float *dw, float *ws);

/* The depthwise convolution (conv_dw.c): groups == C == K > 1, any kernel,
 * stride, dilation and padding, on any CPU (vectorized by the compiler),
 * threaded over channel planes; no workspace.  Same contracts as above with
 * w (C,1,KH,KW); return -1, writing nothing, when g is not depthwise. */
int nr_conv_is_depthwise(const nr_conv_geom *g);
int nr_conv_dw_fwd(const nr_conv_geom *g, const float *x, const float *w, const float *b,
                   int relu, float *y);
int nr_conv_dw_bwd_data(const nr_conv_geom *g, const float *dy, const float *w, float *dx);
int nr_conv_dw_bwd_filter(const nr_conv_geom *g, const float *dy, const float *x, float *dw);

/* SIMD in use.  The default is the best the CPU has, lowered (never raised)
 * by the environment variable NETRUN_ISA=avx512|avx2|generic, read at the
 * first call (other values are ignored); generic means no fast path: every
 * function returns -1. */
enum { NR_ISA_GENERIC, NR_ISA_AVX2, NR_ISA_AVX512 };
int nr_conv_isa(void);
/* Asks for isa, overriding NETRUN_ISA; returns the one in effect: isa, or the
 * best the CPU has when that is lower. */
int nr_conv_set_isa(int isa);
const char *nr_conv_isa_name(int isa);

/* Algorithm: NR_CONV_AUTO (the default) picks per geometry and pass what
 * measured fastest (bench/bench_conv_fast.c): Winograd for most 3x3 passes,
 * direct for the rest.  NR_CONV_DIRECT forces the direct kernels;
 * NR_CONV_WINOGRAD forces the row-wise Winograd F(4,3) where it exists (3x3
 * kernels whose pass reads at most 256 channels; the weight gradient also
 * needs 8 channels of x) and makes every other pass return -1;
 * NR_CONV_WINOGRAD2D forces the two-dimensional F(4x4,3x3) where it exists
 * (forward and data passes: where F(4,3) does, and for 3x3 passes of any
 * number of channels with 64 output tiles of 4x4 or more per image; the
 * weight gradient: 3x3 kernels with 8 channels of x or more and fewer than
 * 512 x 512 channel pairs), every other pass returning -1; all three for
 * tests and benchmarks.  Winograd's
 * error measured about 3e-6 of the largest output against a
 * double-precision reference, the direct kernels' about 1e-6. */
enum { NR_CONV_AUTO, NR_CONV_DIRECT, NR_CONV_WINOGRAD, NR_CONV_WINOGRAD2D };
void nr_conv_set_algo(int algo);

/* Frees the module's caches: per-thread scratch and the lane masks kept per
 * geometry; they are rebuilt on the next call. */
void nr_conv_fast_release(void);

#endif
