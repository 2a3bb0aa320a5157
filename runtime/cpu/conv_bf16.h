/* conv_bf16.h — the convolutions at precision bf16 (backend.h:
 * NR_PREC_BF16): inputs and weights rounded to bf16 (to nearest even) as
 * they are packed, products summed in fp32 with vdpbf16ps, on CPUs with
 * AVX512_BF16.  Tensors stay fp32 in memory.  Same layouts and contracts as
 * conv.h: each function returns 0 when it computed its result and -1,
 * having written nothing, for a geometry, pass or machine it does not take,
 * and the caller then runs the fp32 path.
 *
 * Handled: the geometries of conv.h's fast path without its channel limit
 * (stride 1, dilation 1, one group, ow == w, kh*kw <= 25, 0 <= pad_t < kh,
 * 0 <= pad_l < kw): 'same' convolutions of any kernel size and 1x1.  Results
 * do not depend on the number of threads.  Not reentrant (nr_par_for); the
 * per-thread scratch is conv.c's (nr_conv_fast_release frees it). */
#ifndef NR_CONV_BF16_H
#define NR_CONV_BF16_H

#include "kernels.h"

#include <stdint.h>

/* 1 when the bf16 kernels can run: the CPU has AVX512_BF16 and AVX512BW and
 * nr_conv_isa() (conv.h, lowered by NETRUN_ISA) is avx512. */
int nr_conv_bf16_available(void);

/* NR_BF16_AUTO (the default) takes a pass in bf16 only where it measured
 * faster than the fp32 fast path (conv_bf16.c says where); NR_BF16_ALWAYS
 * takes every handled pass (tests, benchmarks). */
enum { NR_BF16_AUTO, NR_BF16_ALWAYS };
void nr_conv_bf16_set_algo(int algo);

/* Floats of workspace the three functions need for g (0: not handled):
 * the packed weights and the weight gradient's partial sums.  A pure
 * function of g. */
int64_t nr_conv_bf16_ws_elems(const nr_conv_geom *g);

/* As nr_conv_fast_fwd, _bwd_data and _bwd_filter (conv.h); ws:
 * nr_conv_bf16_ws_elems(g) floats, 64-byte aligned. */
int nr_conv_bf16_fwd(const nr_conv_geom *g, const float *x, const float *w, const float *b,
                     int relu, float *y, float *ws);
int nr_conv_bf16_bwd_data(const nr_conv_geom *g, const float *dy, const float *w, float *dx,
                          float *ws);
int nr_conv_bf16_bwd_filter(const nr_conv_geom *g, const float *dy, const float *x, float *dw,
                            float *ws);

#endif
