/* lse_isa.h — the SIMD kernels of loss.c's softmax family: the log-sum-exp
 * pass over a block of pixels (max, sum of exponentials), the softmax and
 * cross-entropy gradient of a block, and the exponential under them.
 * lse_avx512.c and lse_avx2.c build them from lse_kernels.inc; loss.c has
 * the generic C ones and picks a table by the ISA of conv.h (nr_conv_isa:
 * the CPU's best, lowered by NETRUN_ISA). */
#ifndef NR_LSE_ISA_H
#define NR_LSE_ISA_H

#include <stdint.h>

typedef struct {
    const char *name;
    /* For the nb pixels j of a block whose c channel rows are hw floats apart
     * (x (C, nb of HW)): mx[j] = max over channels (a NaN logit is kept out
     * of it, as x > m ? x : m does), se[j] = sum of exp(x - mx[j]).  nb may
     * be anything from 1 (the lanes past it read and write nothing). */
    void (*block_lse)(int c, int64_t hw, const float *x, int nb, float *mx, float *se);
    /* The same block's y (C, nb of HW) = coef[j] * softmax(x)[ch][j], less
     * coef[j] where ch == labels[j]: the cross-entropy's gradient (coef NULL
     * reads as 1, labels NULL as no channel: the softmax). */
    void (*block_softmax)(int c, int64_t hw, const float *x, int nb, const float *coef, const int32_t *labels,
                          float *y);
    /* y (n) = exp(x (n)): within 2 ulp of expf from -87.33 to 88
     * (tests/test_memops.c checks it; it measured 1), 0 below -87.33 (where
     * expf is under FLT_MIN) and at -inf, e^88 above 88, NaN at NaN.  The
     * exponential of the two above. */
    void (*exp)(int64_t n, const float *x, float *y);
} nr_lse_ops;

/* The table in use: the generic one, or the SIMD one of nr_conv_isa(). */
const nr_lse_ops *nr_lse_ops_now(void);

#if defined(__x86_64__) || defined(__i386__)
extern const nr_lse_ops nr_lse_avx512_ops, nr_lse_avx2_ops;
#endif

#endif
